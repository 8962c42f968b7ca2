"""The runs read model's PostgreSQL tables, written one batch and its position at a time."""

from typing import Any

from eventsourcing.postgres import PostgresDatastore

from projections.change_tables import ChangeTables
from projections.runs.changes import (
    Change,
    RunCreated,
    RunFinished,
    RunRunning,
    WorkflowCreated,
    WorkflowRestored,
    WorkflowRetired,
    WorkflowRevised,
)

VERSION = 2
"""The read model's version: it changes whenever the tables' schema or meaning changes, so
the read model is reset and rebuilt from position 0 (2: `workflows.retired_at`; ad-hoc runs
count for no workflow)."""

TRACKING_TABLE = "runs_tracking"

_DDL = (
    """CREATE TABLE IF NOT EXISTS {schema}.runs (
        run_id uuid PRIMARY KEY,
        tenant text NOT NULL,
        workflow text NOT NULL,
        workflow_version integer NOT NULL,
        status text NOT NULL,
        trigger text NOT NULL,
        retry_of uuid,
        reason text,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        duration_ms bigint,
        task_count integer NOT NULL)""",
    # One index per way the API lists runs: newest first, keyset-paged on (created_at, run_id).
    """CREATE INDEX IF NOT EXISTS runs_listed
        ON {schema}.runs (tenant, created_at DESC, run_id DESC)""",
    """CREATE INDEX IF NOT EXISTS runs_by_workflow
        ON {schema}.runs (tenant, workflow, created_at DESC, run_id DESC)""",
    """CREATE INDEX IF NOT EXISTS runs_by_status
        ON {schema}.runs (tenant, status, created_at DESC, run_id DESC)""",
    """CREATE INDEX IF NOT EXISTS runs_by_trigger
        ON {schema}.runs (tenant, trigger, created_at DESC, run_id DESC)""",
    """CREATE TABLE IF NOT EXISTS {schema}.workflows (
        tenant text NOT NULL,
        name text NOT NULL,
        current_version integer NOT NULL,
        description text NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        last_run_id uuid,
        last_run_status text,
        last_run_at timestamptz,
        run_count bigint NOT NULL DEFAULT 0,
        retired_at timestamptz,
        PRIMARY KEY (tenant, name))""",
)

# A run's changes also keep its workflow's summary (run count, last run) in step, in the same
# statement: a run whose row already exists (or whose workflow has no row) changes nothing.
# An ad-hoc run (version 0) counts for no workflow, even a registered one of the same name.
_STATEMENTS: dict[type[Change], str] = {
    RunCreated: """WITH created AS (
            INSERT INTO {schema}.runs (run_id, tenant, workflow, workflow_version, status,
                trigger, retry_of, created_at, task_count)
            VALUES (%(run_id)s, %(tenant)s, %(workflow)s, %(workflow_version)s, 'queued',
                %(trigger)s, %(retry_of)s, %(at)s, %(task_count)s)
            ON CONFLICT (run_id) DO NOTHING
            RETURNING run_id, tenant, workflow, workflow_version, created_at)
        UPDATE {schema}.workflows AS w SET run_count = w.run_count + 1,
            last_run_id = c.run_id, last_run_status = 'queued', last_run_at = c.created_at
        FROM created AS c
        WHERE w.tenant = c.tenant AND w.name = c.workflow AND c.workflow_version > 0""",
    RunRunning: """WITH running AS (
            UPDATE {schema}.runs SET status = 'running', started_at = %(at)s
            WHERE run_id = %(run_id)s AND status = 'queued'
            RETURNING run_id, tenant, workflow)
        UPDATE {schema}.workflows AS w SET last_run_status = 'running'
        FROM running AS r
        WHERE w.tenant = r.tenant AND w.name = r.workflow AND w.last_run_id = r.run_id""",
    RunFinished: """WITH finished AS (
            UPDATE {schema}.runs SET status = %(status)s, reason = %(reason)s,
                finished_at = %(at)s, duration_ms = GREATEST(0, round(
                    extract(epoch FROM %(at)s::timestamptz - created_at) * 1000))::bigint
            WHERE run_id = %(run_id)s AND finished_at IS NULL
            RETURNING run_id, tenant, workflow, status)
        UPDATE {schema}.workflows AS w SET last_run_status = f.status
        FROM finished AS f
        WHERE w.tenant = f.tenant AND w.name = f.workflow AND w.last_run_id = f.run_id""",
    WorkflowCreated: """INSERT INTO {schema}.workflows
        (tenant, name, current_version, description, created_at, updated_at)
        VALUES (%(tenant)s, %(name)s, 1, %(description)s, %(at)s, %(at)s)
        ON CONFLICT (tenant, name) DO NOTHING""",
    WorkflowRevised: """UPDATE {schema}.workflows SET current_version = %(version)s,
        description = %(description)s, updated_at = %(at)s
        WHERE tenant = %(tenant)s AND name = %(name)s AND current_version < %(version)s""",
    WorkflowRetired: """UPDATE {schema}.workflows SET retired_at = %(at)s
        WHERE tenant = %(tenant)s AND name = %(name)s AND retired_at IS NULL""",
    WorkflowRestored: """UPDATE {schema}.workflows SET current_version = %(version)s,
        description = %(description)s, updated_at = %(at)s, retired_at = NULL
        WHERE tenant = %(tenant)s AND name = %(name)s AND current_version < %(version)s""",
}


class RunsTables(ChangeTables):
    """Runs and workflows, plus the tracked position, in one schema."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(
            datastore,
            tracking_table=TRACKING_TABLE,
            ddl=_DDL,
            statements=_STATEMENTS,
            parameters=_parameters,
            tables=("runs", "workflows"),
        )


def _parameters(change: Change) -> dict[str, Any]:
    values: dict[str, Any] = dict(vars(change))
    if isinstance(change, RunFinished):
        values["status"] = change.status.value
    return values
