"""The schedules read model's PostgreSQL table, written one batch and its position at a time."""

from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.types.json import Jsonb

from projections.change_tables import ChangeTables
from projections.schedules.changes import (
    LATENESS_BOUNDS_MS,
    Change,
    RunEnded,
    SchedulePaused,
    ScheduleSet,
    ScheduleStopped,
    TickDecided,
    lateness_bucket,
)

VERSION = 2
"""The read model's version: bump it when its table or statements change what they mean, so
the read model is reset and rebuilt from position 0. 2: the fire-lateness histogram."""

TRACKING_TABLE = "schedules_tracking"

_DDL = (
    # One row per workflow (with a schedule or not, so a schedule added later keeps its pause).
    # `decided_until` is the latest tick fired, skipped, buffered or missed: the scheduler
    # fires ticks after it and after `effective_from` (when the schedule last took effect).
    # The totals and the lateness histogram (a count per bucket of `LATENESS_BOUNDS_MS`, then
    # the rest) feed `GET /metrics`: kept here, they hold across API replicas and restarts.
    """CREATE TABLE IF NOT EXISTS {schema}.schedules (
        workflow_id uuid PRIMARY KEY,
        tenant text NOT NULL,
        workflow text NOT NULL,
        version integer NOT NULL,
        schedule jsonb,
        paused boolean NOT NULL DEFAULT false,
        retired boolean NOT NULL DEFAULT false,
        effective_from timestamptz NOT NULL,
        decided_until timestamptz,
        last_fired_tick timestamptz,
        last_run_id uuid,
        last_run_active boolean NOT NULL DEFAULT false,
        buffered_tick timestamptz,
        fired_total bigint NOT NULL DEFAULT 0,
        skipped_total bigint NOT NULL DEFAULT 0,
        missed_total bigint NOT NULL DEFAULT 0,
        lateness_count bigint NOT NULL DEFAULT 0,
        lateness_sum_ms bigint NOT NULL DEFAULT 0,
        lateness_buckets bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[{buckets}]),
        last_lateness_ms bigint)""".replace("{buckets}", str(len(LATENESS_BOUNDS_MS) + 1)),
    """CREATE INDEX IF NOT EXISTS schedules_by_last_run
        ON {schema}.schedules (last_run_id) WHERE last_run_id IS NOT NULL""",
)

_STATEMENTS: dict[type[Change], str] = {
    ScheduleSet: """INSERT INTO {schema}.schedules AS s (workflow_id, tenant, workflow, version,
            schedule, effective_from)
        VALUES (%(workflow_id)s, %(tenant)s, %(workflow)s, %(version)s, %(schedule)s, %(at)s)
        ON CONFLICT (workflow_id) DO UPDATE SET
            version = EXCLUDED.version,
            schedule = EXCLUDED.schedule,
            effective_from = CASE
                WHEN s.retired OR s.schedule IS DISTINCT FROM EXCLUDED.schedule
                THEN EXCLUDED.effective_from ELSE s.effective_from END,
            retired = false""",
    ScheduleStopped: """UPDATE {schema}.schedules SET retired = true
        WHERE workflow_id = %(workflow_id)s""",
    SchedulePaused: """UPDATE {schema}.schedules SET paused = %(paused)s,
            effective_from = CASE WHEN %(paused)s THEN effective_from ELSE %(at)s END
        WHERE workflow_id = %(workflow_id)s""",
    TickDecided: """UPDATE {schema}.schedules SET
            decided_until = GREATEST(decided_until, %(tick)s::timestamptz),
            last_fired_tick = CASE WHEN %(run_id)s::uuid IS NULL THEN last_fired_tick
                ELSE GREATEST(last_fired_tick, %(tick)s::timestamptz) END,
            last_run_id = COALESCE(%(run_id)s::uuid, last_run_id),
            last_run_active = (%(run_id)s::uuid IS NOT NULL) OR last_run_active,
            buffered_tick = CASE WHEN %(buffered)s THEN %(tick)s::timestamptz
                WHEN %(released)s THEN NULL ELSE buffered_tick END,
            fired_total = fired_total + %(fired)s,
            skipped_total = skipped_total + %(skipped)s,
            missed_total = missed_total + %(missed)s,
            lateness_count = lateness_count + %(observed)s,
            lateness_sum_ms = lateness_sum_ms + COALESCE(%(lateness_ms)s::bigint, 0),
            lateness_buckets[%(bucket)s] = lateness_buckets[%(bucket)s] + %(observed)s,
            last_lateness_ms = COALESCE(%(lateness_ms)s::bigint, last_lateness_ms)
        WHERE workflow_id = %(workflow_id)s""",
    RunEnded: """UPDATE {schema}.schedules SET last_run_active = false
        WHERE last_run_id = %(run_id)s""",
}


class SchedulesTables(ChangeTables):
    """The schedules table, plus the tracked position, in one schema."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(
            datastore,
            tracking_table=TRACKING_TABLE,
            ddl=_DDL,
            statements=_STATEMENTS,
            parameters=_parameters,
            tables=("schedules",),
        )


def _parameters(change: Change) -> dict[str, Any]:
    values: dict[str, Any] = dict(vars(change))
    if isinstance(change, ScheduleSet):
        values["schedule"] = None if change.schedule is None else Jsonb(change.schedule)
    if isinstance(change, TickDecided):
        # A decision without a fire adds 0 to the first bucket: one statement for every kind.
        lateness = change.lateness_ms
        values["observed"] = 0 if lateness is None else 1
        values["bucket"] = 1 if lateness is None else lateness_bucket(lateness)
    return values
