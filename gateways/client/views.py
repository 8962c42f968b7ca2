"""The JSON shapes the HTTP API answers with, as TypedDicts (instants are RFC 3339 strings)."""

from typing import Any, TypedDict

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
"""Run states that never change again."""


class Links(TypedDict):
    self: str


class RunLinks(Links):
    events: str


class Task(TypedDict):
    """One task of a run: its current attempt and what that attempt produced."""

    name: str
    status: str
    attempt: int
    queue: str
    worker: str | None
    exit_code: int | None
    error: str | None
    reason: str | None
    cause: str | None
    retry_at: str | None
    reused_from: str | None
    output: dict[str, Any] | None
    stdout_tail: str
    stderr_tail: str
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    depends_on: list[str]


class Fork(TypedDict):
    """One end of a fork: the other run, and the parent's version the fork started from."""

    run_id: str
    from_version: int


class Run(TypedDict):
    """A run of a pinned workflow version, with its tasks in definition order."""

    id: str
    version: int
    workflow: str
    workflow_version: int
    status: str
    reason: str | None
    trigger: str
    retry_of: str | None
    retried_by: list[str]
    forked_from: Fork | None
    forked_by: list[Fork]
    inputs: dict[str, Any]
    created_at: str
    finished_at: str | None
    tasks: list[Task]
    links: RunLinks


class RunSummary(TypedDict):
    """A run as lists show it."""

    id: str
    workflow: str
    workflow_version: int
    status: str
    trigger: str
    retry_of: str | None
    reason: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    links: Links


class Attempt(TypedDict):
    """One attempt of one task of a run."""

    task: str
    attempt: int
    status: str
    queue: str
    worker: str | None
    delivery: int
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    exit_code: int | None
    error: str | None
    cause: str | None
    stdout_tail: str | None
    stderr_tail: str | None
    output: dict[str, Any] | None


class Event(TypedDict):
    """One recorded state change of a run, with its position in the global log."""

    type: str
    version: int
    position: int
    timestamp: str
    tenant: str
    actor: str
    correlation_id: str
    data: dict[str, Any]


class TimelineStep(TypedDict):
    """One event of a run, told in words."""

    version: int
    position: int
    at: str
    type: str
    task: str | None
    actor: str
    text: str
    since_previous_ms: int
    since_start_ms: int


class TaskTimes(TypedDict):
    """Where one task's time went, over all its attempts."""

    task: str
    attempts: int
    status: str
    waiting_ms: int
    running_ms: int


class Timeline(TypedDict):
    """A run's whole history in words, and each task's waiting and running time."""

    items: list[TimelineStep]
    tasks: list[TaskTimes]
    next_cursor: None


class WorkflowDefinition(TypedDict):
    """A workflow's definition at one version."""

    name: str
    version: int
    current_version: int
    description: str
    tasks: list[dict[str, Any]]
    retry: dict[str, Any]
    created_at: str
    updated_at: str
    retired: bool
    retired_at: str | None
    retired_reason: str | None


class WorkflowApplied(TypedDict):
    """What registering or applying a definition did: `created`, `revised` or `unchanged`."""

    name: str
    version: int
    applied: str
    created_at: str
    updated_at: str


class LastRun(TypedDict):
    id: str
    status: str
    at: str


class WorkflowSummary(TypedDict):
    """A workflow as the list shows it, with its latest run."""

    name: str
    current_version: int
    description: str
    created_at: str
    updated_at: str
    last_run: LastRun | None
    run_count: int
    retired: bool
    retired_at: str | None
    links: Links


class Worker(TypedDict):
    """A worker process the engine has heard from, and its liveness."""

    name: str
    instance: str
    status: str
    queues: list[str]
    capacity: int
    host: str
    version: str
    registered_at: str
    last_change_at: str


class ProjectionStatus(TypedDict):
    """How far one read model has followed the event log, and whether an engine follows it."""

    name: str
    version: int
    built_version: int | None
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    following: bool


class DurationStatistics(TypedDict):
    """Run durations in milliseconds; percentiles are estimated from a histogram."""

    p50: int
    p95: int
    p99: int
    mean: int
    max: int


class StatisticsBucket(TypedDict):
    """The runs of a workflow that finished in one UTC hour or day."""

    bucket_start: str
    granularity: str
    finished: int
    succeeded: int
    failed: int
    cancelled: int
    success_rate: float
    duration_ms: DurationStatistics
