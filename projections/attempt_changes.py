"""What each Run and Worker event changes in the attempts read model, as plain values (no I/O)."""

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from typing import NamedTuple
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.run import DEADLINE_GRACE_SECONDS, Run
from aggregates.spec import DEFAULT_QUEUE, DEFAULT_TIMEOUT_SECONDS
from aggregates.worker import Worker, WorkerStatus


class AttemptKey(NamedTuple):
    """One attempt of one task of one run: the attempts table's primary key."""

    run_id: UUID
    task: str
    attempt: int


@dataclass(frozen=True)
class TaskPinned:
    """A run started: the queue and timeout its pinned spec gives one task."""

    run_id: UUID
    tenant: str
    task: str
    queue: str
    timeout_seconds: float


@dataclass(frozen=True)
class AttemptQueued:
    """An attempt entered the queue (a first attempt, or a retry whose backoff passed)."""

    key: AttemptKey
    tenant: str
    queue: str
    at: datetime


@dataclass(frozen=True)
class RetryScheduled:
    """The next attempt waits until `retry_at`; its queue comes from the pinned spec."""

    key: AttemptKey
    tenant: str
    retry_at: datetime


@dataclass(frozen=True)
class AttemptStarted:
    """A worker started the attempt; its deadline is `at` + the task's timeout + the grace."""

    key: AttemptKey
    worker: str
    delivery: int
    at: datetime
    grace_seconds: float = DEADLINE_GRACE_SECONDS


@dataclass(frozen=True)
class AttemptFinished:
    """The attempt ended: succeeded, failed or timed out (a missing worker keeps the known one)."""

    key: AttemptKey
    status: str
    at: datetime
    worker: str | None
    exit_code: int | None = None
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class RunCancelled:
    """Every attempt of the run not yet finished is cancelled."""

    run_id: UUID
    at: datetime


@dataclass(frozen=True)
class WorkerRegistered:
    worker_id: UUID
    name: str
    instance: str
    queues: tuple[str, ...]
    capacity: int
    host: str
    version: str
    at: datetime


@dataclass(frozen=True)
class WorkerChanged:
    worker_id: UUID
    status: WorkerStatus
    at: datetime


Change = (
    TaskPinned
    | AttemptQueued
    | RetryScheduled
    | AttemptStarted
    | AttemptFinished
    | RunCancelled
    | WorkerRegistered
    | WorkerChanged
)


@singledispatch
def changes_for(event: object) -> tuple[Change, ...]:
    """The row changes one event makes; () for an event the read model does not show."""
    return ()


@changes_for.register
def _run_started(event: Run.Started) -> tuple[Change, ...]:
    return tuple(
        TaskPinned(
            run_id=event.originator_id,
            tenant=event.tenant,
            task=task["name"],
            queue=task.get("queue") or DEFAULT_QUEUE,
            timeout_seconds=float(task.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
        )
        for task in event.tasks
    )


@changes_for.register
def _task_queued(event: Run.TaskQueued) -> tuple[Change, ...]:
    key = AttemptKey(event.originator_id, event.task, event.attempt)
    return (AttemptQueued(key, event.tenant, event.queue, event.timestamp),)


@changes_for.register
def _task_retry_scheduled(event: Run.TaskRetryScheduled) -> tuple[Change, ...]:
    key = AttemptKey(event.originator_id, event.task, event.attempt)
    return (RetryScheduled(key, event.tenant, event.not_before),)


@changes_for.register
def _task_started(event: Run.TaskStarted) -> tuple[Change, ...]:
    key = AttemptKey(event.originator_id, event.task, event.attempt)
    return (AttemptStarted(key, event.worker, event.delivery, event.timestamp),)


@changes_for.register
def _task_succeeded(event: Run.TaskSucceeded) -> tuple[Change, ...]:
    key = AttemptKey(event.originator_id, event.task, event.attempt)
    return (AttemptFinished(key, "succeeded", event.timestamp, event.worker, event.exit_code),)


@changes_for.register
def _task_failed(event: Run.TaskFailed) -> tuple[Change, ...]:
    key = AttemptKey(event.originator_id, event.task, event.attempt)
    return (
        AttemptFinished(
            key, "failed", event.timestamp, event.worker, event.exit_code, event.error, event.cause
        ),
    )


@changes_for.register
def _task_timed_out(event: Run.TaskTimedOut) -> tuple[Change, ...]:
    key = AttemptKey(event.originator_id, event.task, event.attempt)
    return (
        AttemptFinished(
            key, "timed_out", event.timestamp, event.worker, None, event.error, "timed_out"
        ),
    )


@changes_for.register
def _run_cancelled(event: Run.Cancelled) -> tuple[Change, ...]:
    return (RunCancelled(event.originator_id, event.timestamp),)


@changes_for.register
def _worker_registered(event: Worker.Registered) -> tuple[Change, ...]:
    return (
        WorkerRegistered(
            worker_id=event.originator_id,
            name=event.name,
            instance=event.instance,
            queues=tuple(event.queues),
            capacity=event.capacity,
            host=event.host,
            version=event.software_version,
            at=event.timestamp,
        ),
    )


_WORKER_STATUSES: dict[type[Worker.Event], WorkerStatus] = {
    Worker.Draining: WorkerStatus.DRAINING,
    Worker.Lost: WorkerStatus.LOST,
    Worker.Returned: WorkerStatus.REGISTERED,
    Worker.Deregistered: WorkerStatus.DEREGISTERED,
}


@changes_for.register(Worker.Draining)
@changes_for.register(Worker.Lost)
@changes_for.register(Worker.Returned)
@changes_for.register(Worker.Deregistered)
def _worker_changed(event: Worker.Event) -> tuple[Change, ...]:
    status = _WORKER_STATUSES[type(event)]
    return (WorkerChanged(event.originator_id, status, event.timestamp),)


PROJECTED_TOPICS = frozenset(get_topic(kind) for kind in changes_for.registry if kind is not object)
"""The events that change the read model; every other event only advances its position."""
