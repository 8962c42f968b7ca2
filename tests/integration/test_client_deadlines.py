"""Client-side deadlines: a store call over a link that swallows every byte fails in bounded
time instead of holding its thread, and sessions without a statement timeout get no deadline."""

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError

from ops.client_deadlines import ROUND_TRIP_SLACK_SECONDS, DeadlineConnection
from ops.embedded import EmbeddedPostgres, free_port
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine
from tests.faults.proxy import PASS, Link, Proxy

pytestmark = pytest.mark.integration

HANG = 60.0
"""Hang detector: the call must fail well before this (about 6 s + the library's retries)."""


@pytest.fixture
def proxy(server_tmp_path: Path) -> Iterator[Proxy]:
    """A proxy in front of a PostgreSQL listening on TCP (the session's listens on a socket)."""
    with EmbeddedPostgres(server_tmp_path / "pg", tcp_port=free_port()) as postgres:
        proxy = Proxy("store-pg", ("127.0.0.1", postgres.port)).start()
        try:
            yield proxy
        finally:
            proxy.stop()


def outcome_of(call: Callable[[], object], within: float) -> BaseException | object:
    """What `call` returned or raised, on a daemon thread so that a hang fails the test
    instead of blocking it."""
    outcomes: queue.Queue[BaseException | object] = queue.Queue()

    def run() -> None:
        try:
            outcomes.put(call())
        except BaseException as error:  # the outcome under test
            outcomes.put(error)

    threading.Thread(target=run, daemon=True).start()
    try:
        return outcomes.get(timeout=within)
    except queue.Empty:
        pytest.fail(f"the store call still hangs after {within:g} s")


def test_a_store_call_over_a_link_that_drops_every_byte_fails_instead_of_hanging(
    proxy: Proxy, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        database_url=f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres",
        schema=unique_name,
        pool_size=2,
    )
    migrate(settings)
    monkeypatch.setenv("PGOPTIONS", "")  # restored after the test: build_engine sets it
    engine = build_engine(settings, statement_timeout=1.0)
    try:
        assert not engine.recorder.max_notification_id()  # connected: the pool holds them
        proxy.set(Link.blackhole())

        outcome = outcome_of(engine.recorder.max_notification_id, within=HANG)

        assert isinstance(outcome, OperationalError)
    finally:
        proxy.set(PASS)
        proxy.reset()
        engine.close()


def test_a_session_gets_its_statement_timeout_plus_slack_as_its_round_trip_deadline(
    postgres_url: str,
) -> None:
    with DeadlineConnection.connect(postgres_url, options="-c statement_timeout=2500") as conn:
        assert conn.round_trip_deadline == 2.5 + ROUND_TRIP_SLACK_SECONDS


def test_a_session_without_a_statement_timeout_waits_as_long_as_its_statements_take(
    postgres_url: str,
) -> None:
    with DeadlineConnection.connect(postgres_url, options="-c statement_timeout=0") as conn:
        assert conn.round_trip_deadline is None
        conn.execute("SELECT pg_sleep(0.1)")
