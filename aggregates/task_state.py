"""The state of one task within a run: its current attempt and what the attempt produced."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    PENDING = "pending"  # waiting for its dependencies; no attempt yet
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    WAITING_RETRY = "waiting_retry"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.TIMED_OUT,
        TaskStatus.SKIPPED,
        TaskStatus.CANCELLED,
    }
)


@dataclass(frozen=True)
class TaskState:
    """One task of a run; `attempt` and `delivery` fence results from older executions."""

    name: str
    depends_on: tuple[str, ...]
    queue: str
    trigger_rule: str = "all_success"
    timeout_seconds: float = 3600.0
    status: TaskStatus = TaskStatus.PENDING
    attempt: int = 0
    delivery: int = 0
    worker: str | None = None
    instance: str | None = None  # the worker process running it; None from older workers
    exit_code: int | None = None
    error: str | None = None
    reason: str | None = None
    output: dict[str, Any] | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    cause: str | None = None
    reused_from: str | None = None
    retry_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def accepts_start(self, attempt: int, delivery: int) -> bool:
        """A start counts for the current attempt, once per newer JetStream delivery."""
        if attempt != self.attempt:
            return False
        if self.status is TaskStatus.QUEUED:
            return True
        return self.status is TaskStatus.RUNNING and delivery > self.delivery

    def accepts_outcome(self, attempt: int, delivery: int) -> bool:
        """An outcome counts for the current attempt from its latest delivery, only once."""
        return (
            self.status in (TaskStatus.QUEUED, TaskStatus.RUNNING)
            and attempt == self.attempt
            and delivery >= self.delivery
        )

    def queued(self, attempt: int, at: datetime) -> "TaskState":
        return replace(
            self,
            status=TaskStatus.QUEUED,
            attempt=attempt,
            delivery=0,
            retry_at=None,
            queued_at=at,
            started_at=None,
            finished_at=None,
        )

    def waiting_retry(self, attempt: int, not_before: datetime) -> "TaskState":
        return replace(
            self, status=TaskStatus.WAITING_RETRY, attempt=attempt, delivery=0, retry_at=not_before
        )

    def deadline(self, grace_seconds: float) -> datetime | None:
        """When a running attempt without a result counts as timed out on the engine side."""
        if self.status is not TaskStatus.RUNNING or self.started_at is None:
            return None
        return self.started_at + timedelta(seconds=self.timeout_seconds + grace_seconds)

    def running_on(self, worker: str, instance: str | None) -> bool:
        """Running on `worker`, started by its process `instance` when both are known."""
        return (
            self.status is TaskStatus.RUNNING
            and self.worker == worker
            and (instance is None or self.instance is None or self.instance == instance)
        )

    def started(
        self, delivery: int, worker: str, at: datetime, instance: str | None = None
    ) -> "TaskState":
        return replace(
            self,
            status=TaskStatus.RUNNING,
            delivery=delivery,
            worker=worker,
            instance=instance,
            started_at=at,
        )

    def finished(self, status: TaskStatus, at: datetime, **facts: Any) -> "TaskState":
        return replace(self, status=status, finished_at=at, **facts)
