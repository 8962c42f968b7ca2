"""Queries on the attempts read model: what is due, what is stale, who runs what, how far it got."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from projections.attempt_changes import AttemptKey
from projections.attempts_tables import TRACKING_TABLE
from projections.positions import tracked_position, wait_until_processed

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class AttemptRow:
    tenant: str
    run_id: UUID
    task: str
    attempt: int
    status: str
    queue: str
    worker: str | None
    delivery: int
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    deadline: datetime | None
    retry_at: datetime | None
    exit_code: int | None
    error: str | None
    cause: str | None

    @property
    def key(self) -> AttemptKey:
        return AttemptKey(self.run_id, self.task, self.attempt)


@dataclass(frozen=True)
class WorkerRow:
    name: str
    instance: str
    status: str
    queues: list[str]
    capacity: int
    host: str
    version: str
    registered_at: datetime
    last_change_at: datetime


_ATTEMPT_COLUMNS = SQL(
    "tenant, run_id, task, attempt, status, queue, worker, delivery, queued_at, started_at, "
    "finished_at, deadline, retry_at, exit_code, error, cause"
)
_WORKER_COLUMNS = SQL(
    "name, instance, status, queues, capacity, host, version, registered_at, last_change_at"
)


class AttemptsView:
    """Read-only access to the attempts tables of one schema (eventually consistent)."""

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        self._datastore = datastore
        self._application_name = application_name
        self._schema = Identifier(datastore.schema)

    def due_retries(self, now: datetime, limit: int = DEFAULT_LIMIT) -> list[AttemptKey]:
        """Attempts waiting for a retry whose backoff has passed, the longest due first."""
        return self._keys(
            "SELECT run_id, task, attempt FROM {schema}.attempts "
            "WHERE status = 'waiting_retry' AND retry_at <= %s ORDER BY retry_at LIMIT %s",
            now,
            limit,
        )

    def expired_deadlines(self, now: datetime, limit: int = DEFAULT_LIMIT) -> list[AttemptKey]:
        """Running attempts whose deadline (start + timeout + grace) has passed."""
        return self._keys(
            "SELECT run_id, task, attempt FROM {schema}.attempts "
            "WHERE status = 'running' AND deadline <= %s ORDER BY deadline LIMIT %s",
            now,
            limit,
        )

    def next_due(self) -> datetime | None:
        """The earliest retry or deadline still to come (or already passed), if any."""
        rows = self._rows(
            "SELECT LEAST("
            "(SELECT min(retry_at) FROM {schema}.attempts WHERE status = 'waiting_retry'), "
            "(SELECT min(deadline) FROM {schema}.attempts WHERE status = 'running')) AS due"
        )
        due: datetime | None = rows[0]["due"]
        return due

    def stale_queued(self, older_than: datetime, limit: int = DEFAULT_LIMIT) -> list[AttemptRow]:
        """Attempts queued before `older_than` that no worker has started yet, oldest first."""
        rows = self._rows(
            "SELECT {attempt_columns} FROM {schema}.attempts "
            "WHERE status = 'queued' AND queued_at < %s ORDER BY queued_at LIMIT %s",
            older_than,
            limit,
        )
        return [AttemptRow(**row) for row in rows]

    def running_on(self, worker: str) -> list[AttemptKey]:
        """The attempts worker `worker` is running, as far as the read model knows."""
        return self._keys(
            "SELECT run_id, task, attempt FROM {schema}.attempts "
            "WHERE status = 'running' AND worker = %s ORDER BY run_id, task",
            worker,
        )

    def attempts_of(self, run_id: UUID) -> list[AttemptRow]:
        """Every attempt of one run, by task and attempt number."""
        rows = self._rows(
            "SELECT {attempt_columns} FROM {schema}.attempts "
            "WHERE run_id = %s ORDER BY task, attempt",
            run_id,
        )
        return [AttemptRow(**row) for row in rows]

    def workers(self) -> list[WorkerRow]:
        """Every worker ever registered, by name and instance."""
        rows = self._rows("SELECT {worker_columns} FROM {schema}.workers ORDER BY name, instance")
        return [WorkerRow(**row) for row in rows]

    def live_workers(self) -> list[tuple[str, str]]:
        """(name, instance) of every worker neither lost nor deregistered."""
        rows = self._rows(
            "SELECT name, instance FROM {schema}.workers "
            "WHERE status IN ('registered', 'draining') ORDER BY name, instance"
        )
        return [(row["name"], row["instance"]) for row in rows]

    def position(self) -> int:
        """The last position of the log the read model has processed (0 before the first)."""
        return tracked_position(self._datastore, TRACKING_TABLE, self._application_name)

    def wait_for(self, position: int, timeout: float = 10.0) -> None:
        """Block until the read model has processed `position`; TimeoutError after `timeout`."""
        wait_until_processed(self.position, position, timeout, "attempts read model")

    def _keys(self, query: LiteralString, *params: Any) -> list[AttemptKey]:
        return [
            AttemptKey(row["run_id"], row["task"], row["attempt"])
            for row in self._rows(query, *params)
        ]

    def _rows(self, query: LiteralString, *params: Any) -> list[dict[str, Any]]:
        statement = SQL(query).format(
            schema=self._schema,
            tracking=Identifier(TRACKING_TABLE),
            attempt_columns=_ATTEMPT_COLUMNS,
            worker_columns=_WORKER_COLUMNS,
        )
        with self._datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            return cursor.fetchall()
