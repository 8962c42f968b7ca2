"""Queries on the runs read model: runs newest first with filters, workflows by name."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier

from projections.positions import tracked_position, wait_until_processed
from projections.runs.tables import TRACKING_TABLE

DEFAULT_LIMIT = 50


class RunPosition(NamedTuple):
    """Where a run sits in the newest-first order: the key a page of runs continues after."""

    created_at: datetime
    run_id: UUID


@dataclass(frozen=True)
class RunRow:
    run_id: UUID
    tenant: str
    workflow: str
    workflow_version: int
    status: str
    trigger: str
    retry_of: UUID | None
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    task_count: int

    @property
    def position(self) -> RunPosition:
        return RunPosition(self.created_at, self.run_id)


@dataclass(frozen=True)
class WorkflowRow:
    tenant: str
    name: str
    current_version: int
    description: str
    created_at: datetime
    updated_at: datetime
    last_run_id: UUID | None
    last_run_status: str | None
    last_run_at: datetime | None
    run_count: int
    retired_at: datetime | None = None


@dataclass(frozen=True)
class RunQuery:
    """Which runs of a tenant to list, newest first (by `created_at`, then `run_id`).

    Empty filters match everything; non-empty ones match any of their values. The creation
    window is half-open: `created_after` <= created_at < `created_before`. `after` continues
    a listing: only runs strictly older than that position.
    """

    workflows: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    after: RunPosition | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class WorkflowQuery:
    """A tenant's workflows by name; `after` continues a listing after that name.

    Retired workflows are left out unless `include_retired`.
    """

    after: str | None = None
    limit: int = DEFAULT_LIMIT
    include_retired: bool = False


_RUN_COLUMNS = SQL(
    "run_id, tenant, workflow, workflow_version, status, trigger, retry_of, reason, created_at, "
    "started_at, finished_at, duration_ms, task_count"
)
_WORKFLOW_COLUMNS = SQL(
    "tenant, name, current_version, description, created_at, updated_at, last_run_id, "
    "last_run_status, last_run_at, run_count, retired_at"
)


class RunsView:
    """Read-only access to the runs and workflows tables of one schema (eventually consistent)."""

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        self._datastore = datastore
        self._application_name = application_name
        self._schema = Identifier(datastore.schema)

    def runs(self, tenant: str, query: RunQuery) -> list[RunRow]:
        """Up to `query.limit` runs of `tenant` that match `query`, newest first (keyset paged)."""
        given: tuple[tuple[object, SQL], ...] = (
            (query.workflows, SQL("workflow = ANY(%(workflows)s)")),
            (query.statuses, SQL("status = ANY(%(statuses)s)")),
            (query.triggers, SQL("trigger = ANY(%(triggers)s)")),
            (query.created_after, SQL("created_at >= %(created_after)s")),
            (query.created_before, SQL("created_at < %(created_before)s")),
            (query.after, SQL("(created_at, run_id) < (%(after_at)s, %(after_id)s)")),
        )
        conditions = [SQL("tenant = %(tenant)s")]
        conditions.extend(condition for value, condition in given if value)
        statement = SQL(
            "SELECT {columns} FROM {schema}.runs WHERE {conditions} "
            "ORDER BY created_at DESC, run_id DESC LIMIT %(limit)s"
        ).format(
            columns=_RUN_COLUMNS, schema=self._schema, conditions=SQL(" AND ").join(conditions)
        )
        after = query.after
        rows = self._fetch(
            statement,
            {
                "tenant": tenant,
                "workflows": list(query.workflows),
                "statuses": list(query.statuses),
                "triggers": list(query.triggers),
                "created_after": query.created_after,
                "created_before": query.created_before,
                "after_at": None if after is None else after.created_at,
                "after_id": None if after is None else after.run_id,
                "limit": query.limit,
            },
        )
        return [RunRow(**row) for row in rows]

    def run(self, tenant: str, run_id: UUID) -> RunRow | None:
        """One run of `tenant`, if the read model has it yet."""
        statement = SQL(
            "SELECT {columns} FROM {schema}.runs WHERE tenant = %(tenant)s AND run_id = %(run_id)s"
        ).format(columns=_RUN_COLUMNS, schema=self._schema)
        rows = self._fetch(statement, {"tenant": tenant, "run_id": run_id})
        return RunRow(**rows[0]) if rows else None

    def workflows(self, tenant: str, query: WorkflowQuery) -> list[WorkflowRow]:
        """Up to `query.limit` workflows of `tenant` by name, after `query.after` if given."""
        statement = SQL(
            "SELECT {columns} FROM {schema}.workflows WHERE tenant = %(tenant)s {after} "
            "{retired} ORDER BY name LIMIT %(limit)s"
        ).format(
            columns=_WORKFLOW_COLUMNS,
            schema=self._schema,
            after=SQL("") if query.after is None else SQL("AND name > %(after)s"),
            retired=SQL("") if query.include_retired else SQL("AND retired_at IS NULL"),
        )
        rows = self._fetch(
            statement, {"tenant": tenant, "after": query.after, "limit": query.limit}
        )
        return [WorkflowRow(**row) for row in rows]

    def position(self) -> int:
        """The last position of the log the read model has processed (0 before the first)."""
        return tracked_position(self._datastore, TRACKING_TABLE, self._application_name)

    def wait_for(self, position: int, timeout: float = 10.0) -> None:
        """Block until the read model has processed `position`; TimeoutError after `timeout`."""
        wait_until_processed(self.position, position, timeout, "runs read model")

    def _fetch(self, statement: Composed, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            return cursor.fetchall()
