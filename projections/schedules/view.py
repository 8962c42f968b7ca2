"""Queries on the schedules read model: the schedules to fire, and one workflow's schedule."""

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from aggregates.schedule import ScheduleSpec
from projections.positions import tracked_position, wait_until_processed
from projections.schedules.tables import TRACKING_TABLE


@dataclass(frozen=True)
class ScheduleRow:
    """A workflow's schedule as the log has decided it so far (eventually consistent)."""

    workflow_id: UUID
    tenant: str
    workflow: str
    version: int
    schedule: ScheduleSpec | None
    paused: bool
    retired: bool
    effective_from: datetime
    decided_until: datetime | None
    last_fired_tick: datetime | None
    last_run_id: UUID | None
    last_run_active: bool
    buffered_tick: datetime | None
    fired_total: int
    skipped_total: int
    missed_total: int
    lateness_count: int
    lateness_sum_ms: int
    lateness_buckets: tuple[int, ...]
    """Fires per bucket of `LATENESS_BOUNDS_MS` (not cumulative), the last one for the rest."""
    last_lateness_ms: int | None

    @property
    def fires_after(self) -> datetime:
        """Ticks after this instant are undecided: the later of the last decided tick and the
        time the schedule took effect (registered, changed, resumed or restored)."""
        if self.decided_until is None:
            return self.effective_from
        return max(self.decided_until, self.effective_from)


_COLUMNS = SQL(
    "workflow_id, tenant, workflow, version, schedule, paused, retired, effective_from, "
    "decided_until, last_fired_tick, last_run_id, last_run_active, buffered_tick, fired_total, "
    "skipped_total, missed_total, lateness_count, lateness_sum_ms, lateness_buckets, "
    "last_lateness_ms"
)


class SchedulesView:
    """Read-only access to the schedules table of one schema."""

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        self._datastore = datastore
        self._application_name = application_name
        self._schema = Identifier(datastore.schema)

    def active(self) -> list[ScheduleRow]:
        """Every schedule that fires: present, not paused, its workflow not retired."""
        return self._select(
            SQL("schedule IS NOT NULL AND NOT paused AND NOT retired ORDER BY workflow_id"), {}
        )

    def every(self) -> list[ScheduleRow]:
        """Every workflow that has (or had) a schedule, paused and retired ones included, by
        tenant and name: the totals they count are for good."""
        return self._select(
            SQL(
                "schedule IS NOT NULL OR fired_total + skipped_total + missed_total > 0 "
                "ORDER BY tenant, workflow"
            ),
            {},
        )

    def of(self, tenant: str, workflow: str) -> ScheduleRow | None:
        """One workflow's row; None before the read model has seen the workflow."""
        rows = self._select(
            SQL("tenant = %(tenant)s AND workflow = %(workflow)s"),
            {"tenant": tenant, "workflow": workflow},
        )
        return rows[0] if rows else None

    def _select(self, condition: SQL, params: dict[str, Any]) -> list[ScheduleRow]:
        statement = SQL("SELECT {columns} FROM {schema}.schedules WHERE {condition}").format(
            columns=_COLUMNS, schema=self._schema, condition=condition
        )
        with self._datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            return [_row(row) for row in cursor.fetchall()]

    def position(self) -> int:
        """The last position of the log the read model has processed (0 before the first)."""
        return tracked_position(self._datastore, TRACKING_TABLE, self._application_name)

    def wait_for(self, position: int, timeout: float = 10.0) -> None:
        """Block until the read model has processed `position`; TimeoutError after `timeout`."""
        wait_until_processed(self.position, position, timeout, "schedules read model")


def _row(row: dict[str, Any]) -> ScheduleRow:
    schedule = row["schedule"]
    spec = None if schedule is None else _spec(json.dumps(schedule, sort_keys=True))
    return ScheduleRow(
        **{**row, "schedule": spec, "lateness_buckets": tuple(row["lateness_buckets"])}
    )


@lru_cache(maxsize=4096)
def _spec(text: str) -> ScheduleSpec:
    """Schedules change rarely and are re-read often: check each distinct one once."""
    return ScheduleSpec.model_validate_json(text)
