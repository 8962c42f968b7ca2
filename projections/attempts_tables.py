"""The attempts read model's PostgreSQL tables, written one batch and its position at a time."""

from typing import Any

from eventsourcing.postgres import PostgresDatastore

from aggregates.spec import DEFAULT_QUEUE, DEFAULT_TIMEOUT_SECONDS
from projections.attempt_changes import (
    AttemptFinished,
    AttemptQueued,
    AttemptStarted,
    Change,
    RetryScheduled,
    RunCancelled,
    TaskPinned,
    WorkerChanged,
    WorkerRegistered,
)
from projections.change_tables import ChangeTables

TRACKING_TABLE = "attempts_tracking"
VERSION = 1
"""Changes whenever the tables' shape or what an event changes in them does: a rebuild follows."""

_DDL = (
    """CREATE TABLE IF NOT EXISTS {schema}.attempt_specs (
        run_id uuid NOT NULL,
        task text NOT NULL,
        tenant text NOT NULL,
        queue text NOT NULL,
        timeout_seconds double precision NOT NULL,
        PRIMARY KEY (run_id, task))""",
    """CREATE TABLE IF NOT EXISTS {schema}.attempts (
        tenant text NOT NULL,
        run_id uuid NOT NULL,
        task text NOT NULL,
        attempt integer NOT NULL,
        status text NOT NULL,
        queue text NOT NULL,
        worker text,
        delivery integer NOT NULL DEFAULT 0,
        queued_at timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        deadline timestamptz,
        retry_at timestamptz,
        exit_code integer,
        error text,
        cause text,
        PRIMARY KEY (run_id, task, attempt))""",
    # One partial index per question the driving loops ask, so each stays small.
    """CREATE INDEX IF NOT EXISTS attempts_due_retries
        ON {schema}.attempts (retry_at) WHERE status = 'waiting_retry'""",
    """CREATE INDEX IF NOT EXISTS attempts_deadlines
        ON {schema}.attempts (deadline) WHERE status = 'running'""",
    """CREATE INDEX IF NOT EXISTS attempts_queued
        ON {schema}.attempts (queued_at) WHERE status = 'queued'""",
    """CREATE INDEX IF NOT EXISTS attempts_running_on
        ON {schema}.attempts (worker) WHERE status = 'running'""",
    """CREATE TABLE IF NOT EXISTS {schema}.workers (
        worker_id uuid NOT NULL UNIQUE,
        name text NOT NULL,
        instance text NOT NULL,
        status text NOT NULL,
        queues text[] NOT NULL,
        capacity integer NOT NULL,
        host text NOT NULL,
        version text NOT NULL,
        registered_at timestamptz NOT NULL,
        last_change_at timestamptz NOT NULL,
        PRIMARY KEY (name, instance))""",
)

_STATEMENTS: dict[type[Change], str] = {
    TaskPinned: """INSERT INTO {schema}.attempt_specs (run_id, task, tenant, queue, timeout_seconds)
        VALUES (%(run_id)s, %(task)s, %(tenant)s, %(queue)s, %(timeout_seconds)s)
        ON CONFLICT (run_id, task) DO NOTHING""",
    AttemptQueued: """INSERT INTO {schema}.attempts
        (tenant, run_id, task, attempt, status, queue, queued_at)
        VALUES (%(tenant)s, %(run_id)s, %(task)s, %(attempt)s, 'queued', %(queue)s, %(at)s)
        ON CONFLICT (run_id, task, attempt) DO UPDATE SET status = 'queued',
        queue = EXCLUDED.queue, queued_at = EXCLUDED.queued_at, retry_at = NULL""",
    RetryScheduled: """INSERT INTO {schema}.attempts
        (tenant, run_id, task, attempt, status, queue, retry_at)
        VALUES (%(tenant)s, %(run_id)s, %(task)s, %(attempt)s, 'waiting_retry',
        COALESCE((SELECT queue FROM {schema}.attempt_specs
                  WHERE run_id = %(run_id)s AND task = %(task)s), %(default_queue)s),
        %(retry_at)s)
        ON CONFLICT (run_id, task, attempt) DO UPDATE SET status = 'waiting_retry',
        retry_at = EXCLUDED.retry_at""",
    AttemptStarted: """UPDATE {schema}.attempts SET status = 'running', worker = %(worker)s,
        delivery = %(delivery)s, started_at = %(at)s,
        deadline = %(at)s + make_interval(secs => %(grace_seconds)s + COALESCE(
            (SELECT timeout_seconds FROM {schema}.attempt_specs
             WHERE run_id = %(run_id)s AND task = %(task)s), %(default_timeout)s))
        WHERE run_id = %(run_id)s AND task = %(task)s AND attempt = %(attempt)s""",
    AttemptFinished: """UPDATE {schema}.attempts SET status = %(status)s, finished_at = %(at)s,
        worker = COALESCE(%(worker)s, worker), exit_code = %(exit_code)s, error = %(error)s,
        cause = %(cause)s, deadline = NULL, retry_at = NULL
        WHERE run_id = %(run_id)s AND task = %(task)s AND attempt = %(attempt)s""",
    RunCancelled: """UPDATE {schema}.attempts SET status = 'cancelled', finished_at = %(at)s,
        deadline = NULL, retry_at = NULL
        WHERE run_id = %(run_id)s AND status IN ('queued', 'running', 'waiting_retry')""",
    WorkerRegistered: """INSERT INTO {schema}.workers (worker_id, name, instance, status, queues,
        capacity, host, version, registered_at, last_change_at)
        VALUES (%(worker_id)s, %(name)s, %(instance)s, 'registered', %(queues)s, %(capacity)s,
        %(host)s, %(version)s, %(at)s, %(at)s)
        ON CONFLICT (name, instance) DO NOTHING""",
    WorkerChanged: """UPDATE {schema}.workers SET status = %(status)s, last_change_at = %(at)s
        WHERE worker_id = %(worker_id)s""",
}


class AttemptsTables(ChangeTables):
    """Attempts, their pinned specs and workers, plus the tracked position, in one schema."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(
            datastore,
            tracking_table=TRACKING_TABLE,
            ddl=_DDL,
            statements=_STATEMENTS,
            parameters=_parameters,
            tables=("attempts", "attempt_specs", "workers"),
        )


def _parameters(change: Change) -> dict[str, Any]:
    values: dict[str, Any] = dict(vars(change))
    key = values.pop("key", None)
    if key is not None:
        values.update(run_id=key.run_id, task=key.task, attempt=key.attempt)
    if isinstance(change, WorkerRegistered):
        values["queues"] = list(change.queues)
    elif isinstance(change, WorkerChanged):
        values["status"] = change.status.value
    values.update(default_queue=DEFAULT_QUEUE, default_timeout=DEFAULT_TIMEOUT_SECONDS)
    return values
