"""The statistics read model's PostgreSQL tables, written one batch and its position at a time."""

from typing import Any

from eventsourcing.postgres import PostgresDatastore

from aggregates.run import RunStatus
from projections.change_tables import ChangeTables
from projections.statistics.changes import Change, RunClosed, RunOpened
from projections.statistics.histogram import DURATION_BOUNDS_MS, SLOTS

VERSION = 1
"""The read model's version: bump it when its tables or statements change what they mean, so
the read model is reset and rebuilt from position 0."""

TRACKING_TABLE = "statistics_tracking"

_DDL = (
    # Runs started and not finished yet: where a finished run's duration is measured from.
    """CREATE TABLE IF NOT EXISTS {schema}.statistics_open_runs (
        run_id uuid PRIMARY KEY,
        tenant text NOT NULL,
        workflow text NOT NULL,
        created_at timestamptz NOT NULL)""",
    # One row per workflow and UTC hour or day in which a run of it finished; `histogram[i]`
    # counts the durations in slot i-1 of `projections.statistics.histogram`.
    """CREATE TABLE IF NOT EXISTS {schema}.workflow_statistics (
        tenant text NOT NULL,
        workflow text NOT NULL,
        granularity text NOT NULL CHECK (granularity IN ('hour', 'day')),
        bucket_start timestamptz NOT NULL,
        finished bigint NOT NULL,
        succeeded bigint NOT NULL,
        failed bigint NOT NULL,
        cancelled bigint NOT NULL,
        duration_sum_ms bigint NOT NULL,
        duration_max_ms bigint NOT NULL,
        histogram bigint[] NOT NULL,
        PRIMARY KEY (tenant, workflow, granularity, bucket_start))""",
)

# A finished run leaves the open runs and counts in its hour and its day, in one statement; a
# run the read model never saw start (none is expected) counts nowhere. Its duration slot is
# `width_bucket(duration - 1, bounds)`: 0 up to the first bound, i above bound i-1 up to bound
# i (milliseconds are whole), and len(bounds) above the last.
_STATEMENTS: dict[type[Change], str] = {
    RunOpened: """INSERT INTO {schema}.statistics_open_runs (run_id, tenant, workflow, created_at)
        VALUES (%(run_id)s, %(tenant)s, %(workflow)s, %(at)s)
        ON CONFLICT (run_id) DO NOTHING""",
    RunClosed: """WITH closed AS (
            DELETE FROM {schema}.statistics_open_runs WHERE run_id = %(run_id)s
            RETURNING tenant, workflow, GREATEST(0, round(
                extract(epoch FROM %(at)s::timestamptz - created_at) * 1000))::bigint AS duration),
        measured AS (
            SELECT tenant, workflow, duration,
                width_bucket(duration - 1, %(bounds)s::bigint[]) AS slot
            FROM closed)
        INSERT INTO {schema}.workflow_statistics AS s (tenant, workflow, granularity,
            bucket_start, finished, succeeded, failed, cancelled, duration_sum_ms,
            duration_max_ms, histogram)
        SELECT m.tenant, m.workflow, g.granularity,
            date_trunc(g.granularity, %(at)s::timestamptz, 'UTC'), 1, %(succeeded)s::bigint,
            %(failed)s::bigint, %(cancelled)s::bigint, m.duration, m.duration,
            array_fill(0::bigint, ARRAY[m.slot]) || 1::bigint
                || array_fill(0::bigint, ARRAY[%(slots)s::integer - 1 - m.slot])
        FROM measured AS m CROSS JOIN (VALUES ('hour'), ('day')) AS g (granularity)
        ON CONFLICT (tenant, workflow, granularity, bucket_start) DO UPDATE SET
            finished = s.finished + 1,
            succeeded = s.succeeded + EXCLUDED.succeeded,
            failed = s.failed + EXCLUDED.failed,
            cancelled = s.cancelled + EXCLUDED.cancelled,
            duration_sum_ms = s.duration_sum_ms + EXCLUDED.duration_sum_ms,
            duration_max_ms = GREATEST(s.duration_max_ms, EXCLUDED.duration_max_ms),
            histogram = ARRAY(
                SELECT old + new
                FROM unnest(s.histogram, EXCLUDED.histogram) WITH ORDINALITY AS h (old, new, i)
                ORDER BY i)""",
}


class StatisticsTables(ChangeTables):
    """Open runs and per-workflow buckets, plus the tracked position, in one schema."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(
            datastore,
            tracking_table=TRACKING_TABLE,
            ddl=_DDL,
            statements=_STATEMENTS,
            parameters=_parameters,
            tables=("statistics_open_runs", "workflow_statistics"),
        )


def _parameters(change: Change) -> dict[str, Any]:
    values: dict[str, Any] = dict(vars(change))
    if isinstance(change, RunClosed):
        for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            values[status.value] = int(change.status == status)
        values.update(bounds=list(DURATION_BOUNDS_MS), slots=SLOTS)
    return values
