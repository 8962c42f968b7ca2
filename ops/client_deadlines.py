"""Client-side deadlines on PostgreSQL connections: a silent server or link fails a call in
bounded time instead of holding its thread (ADR 25)."""

from typing import Any, Self

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import errors
from psycopg.abc import RV, PQGen
from psycopg.rows import DictRow, tuple_row
from psycopg_pool import ConnectionPool

TCP_DEADLINES: dict[str, int] = {
    # The whole connection setup, handshake and authentication included (psycopg enforces it).
    "connect_timeout": 5,
    # An idle connection whose peer host is gone is dropped after 10 + 3 x 5 = 25 s.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    # Sent bytes the peer host has not acknowledged for 15 s (a link that drops packets) drop
    # the connection. Only unacknowledged data counts: a long statement never trips it.
    "tcp_user_timeout": 15_000,
}
"""libpq parameters that bound what TCP can notice: a host or link that stops answering."""

ROUND_TRIP_SLACK_SECONDS = 5.0
"""Beyond the session's `statement_timeout`, how long an answer may take to arrive."""

_WAIT_INTERVAL = 0.1  # psycopg's own: how often a wait wakes to notice an interrupt
_SETUP_DEADLINE_SECONDS = float(TCP_DEADLINES["connect_timeout"])


class DeadlineConnection(psycopg.Connection[DictRow]):
    """A connection whose round trips (a statement, a commit) fail once they go unanswered
    for the session's `statement_timeout` plus `ROUND_TRIP_SLACK_SECONDS`.

    A server that stops answering while its host still acknowledges the bytes (a stalled
    disk, a stopped process, a proxy that swallows traffic) is invisible to TCP; but a server
    with a statement timeout answers within it, if only with a cancellation, so a longer
    silence means it is gone. The connection is then closed, and its pool drained: its other
    connections lead to the same server, and the library's retries would wait on each of
    them in turn. A session without a statement timeout (admin commands, the engine) may run
    statements of any length, so its round trips get no deadline.
    """

    round_trip_deadline: float | None = None

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        conn = super().connect(conninfo, **kwargs)
        conn.round_trip_deadline = _SETUP_DEADLINE_SECONDS
        try:
            conn.round_trip_deadline = _deadline_for(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def wait(
        self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None
    ) -> RV:
        deadline = self.round_trip_deadline
        if timeout is not None or deadline is None:  # LISTEN loops pass their own timeout
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, deadline)
        except errors._WaitTimeout:  # psycopg's internal error: "convert it to a public one"
            self.close()  # mid-conversation: unusable
            pool = getattr(self, "_pool", None)  # set by the pool that opened it, if any
            if isinstance(pool, ConnectionPool):
                pool.drain()
            msg = f"PostgreSQL did not answer within {deadline:g} s: connection closed"
            raise errors.OperationalError(msg) from None


def apply_client_deadlines(datastore: PostgresDatastore) -> None:
    """Give the connections `datastore`'s pool opens from now on these deadlines.

    The library builds its pool with fixed connection arguments and class; both are read
    again for every new connection, so this must run before the pool opens its first.
    """
    pool = datastore.pool
    if not callable(pool.kwargs):
        pool.kwargs = {**(pool.kwargs or {}), **TCP_DEADLINES}
    pool.connection_class = DeadlineConnection


def _deadline_for(conn: psycopg.Connection[Any]) -> float | None:
    """The session's statement timeout plus slack, or None if it has none."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute("SELECT setting::float8 FROM pg_settings WHERE name = 'statement_timeout'")
        row = cursor.fetchone()
    conn.rollback()
    milliseconds = float(row[0]) if row is not None else 0.0
    return milliseconds / 1000 + ROUND_TRIP_SLACK_SECONDS if milliseconds > 0 else None
