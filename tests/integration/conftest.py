"""Fixtures for integration tests: a migrated schema and a NATS prefix of their own per test."""

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client as NatsClient

from engine.application import Ledgerflow
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine
from streams.subjects import Subjects
from streams.topology import declare_streams
from tests.clocks import MovingClock


@pytest.fixture
def settings(postgres_url: str, nats_url: str, unique_name: str) -> Settings:
    """Settings on the session's servers, isolated by schema and NATS prefix; migrated."""
    settings = Settings(
        database_url=postgres_url,
        nats_url=nats_url,
        schema=unique_name,
        nats_prefix=unique_name,
        worker_name="w1",
        pool_size=4,
    )
    migrate(settings)
    return settings


@pytest.fixture
def engine(settings: Settings) -> Iterator[Ledgerflow]:
    engine = build_engine(settings)
    yield engine
    engine.close()


@pytest.fixture
def subjects(settings: Settings) -> Subjects:
    return Subjects(settings.nats_prefix)


@pytest.fixture
async def nc(nats_url: str, subjects: Subjects) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    await declare_streams(client.jetstream(), subjects)
    yield client
    await client.close()


@pytest.fixture
async def bare_nc(nats_url: str) -> AsyncIterator[NatsClient]:
    """A NATS client with no streams declared and no schema migrated behind it: modules whose
    tests never touch PostgreSQL, or declare the streams themselves, override `nc` with it."""
    client = await nats.connect(nats_url)
    yield client
    await client.drain()


@pytest.fixture
def clock() -> MovingClock:
    """The clock of `engine_on_clock`: it stands at the test's start until the test moves it."""
    return MovingClock()


@pytest.fixture
def engine_on_clock(settings: Settings, clock: MovingClock) -> Iterator[Ledgerflow]:
    engine = Ledgerflow(env=settings.eventsourcing_env(), clock=clock)
    yield engine
    engine.close()
