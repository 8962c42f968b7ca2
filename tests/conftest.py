"""Session-wide PostgreSQL and NATS from the wheels, and unique names that keep tests apart."""

import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.embedded import EmbeddedNats, EmbeddedPostgres


def _new_server_dir() -> Path:
    """A short, fresh folder under /tmp.

    Not `tmp_path_factory`: as root, PostgreSQL runs as another user who must traverse every
    parent folder, and each new pytest session closes /tmp/pytest-of-root (0700) again, which
    races with a concurrent session starting its server. /tmp is open to all and short.
    """
    return Path(tempfile.mkdtemp(prefix="lf-test-", dir="/tmp"))


@pytest.fixture(scope="session")
def _servers_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    path = _new_server_dir()
    yield path
    if request.session.testsfailed:
        warnings.warn(f"kept {path} (server logs) because tests failed", stacklevel=1)
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(_servers_dir: Path) -> Iterator[str]:
    """A PostgreSQL server for the whole session; tests keep apart by schema (`unique_name`)."""
    with EmbeddedPostgres(_servers_dir / "pg") as postgres:
        yield postgres.url


@pytest.fixture(scope="session")
def nats_url(_servers_dir: Path) -> Iterator[str]:
    """A JetStream nats-server for the whole session; tests keep apart by stream and subject."""
    with EmbeddedNats(_servers_dir / "nats") as nats:
        yield nats.url


@pytest.fixture
def server_tmp_path() -> Iterator[Path]:
    """A short, fresh folder where a test can start its own PostgreSQL or NATS, even as root."""
    path = _new_server_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def unique_name() -> str:
    """A fresh name for a schema, stream or subject prefix: a letter, then 10 hex digits."""
    return f"t{uuid.uuid4().hex[:10]}"
