"""The Run aggregate: one execution of a pinned workflow version, task attempt by attempt."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import event

from aggregates.errors import RunAlreadyFinishedError
from aggregates.provenance import AttributedAggregate, Origin
from aggregates.spec import WorkflowSpec
from aggregates.task_state import TaskState, TaskStatus


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class Recorded(StrEnum):
    """What a worker's report did to the run."""

    APPLIED = "applied"
    FENCED = "fenced"  # late, duplicate, stale or conflicting: changed nothing


@dataclass(frozen=True)
class TaskReport:
    """What a worker saw of one delivery of one attempt (the domain side of a result message)."""

    run_id: UUID
    tenant: str
    task: str
    attempt: int
    delivery: int
    worker: str
    outcome: Literal["started", "succeeded", "failed", "timed_out"]
    exit_code: int | None = None
    error: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    output: dict[str, Any] | None = None


class Run(AttributedAggregate):
    """One execution of a workflow version: the state of every task and of the run."""

    class Started(AttributedAggregate.Created, AttributedAggregate.Event):
        workflow: str
        workflow_version: int
        tasks: list[dict[str, Any]]
        inputs: dict[str, Any]
        request_hash: str
        trigger: str

    class TaskQueued(AttributedAggregate.Event):
        task: str
        attempt: int
        queue: str

    class TaskStarted(AttributedAggregate.Event):
        task: str
        attempt: int
        delivery: int
        worker: str

    class TaskSucceeded(AttributedAggregate.Event):
        task: str
        attempt: int
        delivery: int
        worker: str
        exit_code: int | None
        output: dict[str, Any] | None
        stdout_tail: str
        stderr_tail: str

    class TaskFailed(AttributedAggregate.Event):
        task: str
        attempt: int
        delivery: int
        worker: str
        exit_code: int | None
        error: str | None
        stdout_tail: str
        stderr_tail: str

    class TaskTimedOut(AttributedAggregate.Event):
        task: str
        attempt: int
        delivery: int
        worker: str
        error: str | None
        stdout_tail: str
        stderr_tail: str

    class TaskSkipped(AttributedAggregate.Event):
        task: str
        reason: str

    class Succeeded(AttributedAggregate.Event):
        pass

    class Failed(AttributedAggregate.Event):
        reason: str

    class Cancelled(AttributedAggregate.Event):
        reason: str

    @classmethod
    def start(
        cls,
        *,
        run_id: UUID,
        tenant: str,
        spec: WorkflowSpec,
        workflow_version: int,
        inputs: dict[str, Any],
        request_hash: str,
        trigger: str,
        origin: Origin,
    ) -> "Run":
        """A new run of `spec` with its root tasks queued, all in one set of pending events."""
        run = cls._create(
            cls.Started,
            id=run_id,
            tenant=tenant,
            actor=origin.actor,
            correlation_id=origin.correlation_id,
            timestamp=origin.at,
            workflow=spec.name,
            workflow_version=workflow_version,
            tasks=[task.model_dump(mode="json") for task in spec.tasks],
            inputs=inputs,
            request_hash=request_hash,
            trigger=trigger,
        )
        with run._acting(origin):
            run._advance()
        return run

    @event(Started)
    def __init__(
        self,
        tenant: str,
        correlation_id: str,
        workflow: str,
        workflow_version: int,
        tasks: list[dict[str, Any]],
        inputs: dict[str, Any],
        request_hash: str,
        trigger: str,
    ) -> None:
        self.tenant = tenant
        self.correlation_id = correlation_id
        self.workflow = workflow
        self.workflow_version = workflow_version
        self.task_specs = tasks
        self.inputs = inputs
        self.request_hash = request_hash
        self.trigger = trigger
        self.status = RunStatus.QUEUED
        self.reason: str | None = None
        self.finished_at: datetime | None = None
        self.tasks = {
            task["name"]: TaskState(
                name=task["name"], depends_on=tuple(task["depends_on"]), queue=task["queue"]
            )
            for task in tasks
        }

    def task_spec(self, name: str) -> dict[str, Any]:
        """The pinned definition of task `name`."""
        return next(spec for spec in self.task_specs if spec["name"] == name)

    # Commands

    def record(self, report: TaskReport, origin: Origin) -> Recorded:
        """Apply a worker's report to the current attempt; anything else is fenced."""
        state = self.tasks.get(report.task)
        addressed_here = report.run_id == self.id and report.tenant == self.tenant
        if state is None or not addressed_here or self.status.is_terminal:
            return Recorded.FENCED
        with self._acting(origin):
            if report.outcome == "started":
                if not state.accepts_start(report.attempt, report.delivery):
                    return Recorded.FENCED
                self._task_started(
                    task=report.task,
                    attempt=report.attempt,
                    delivery=report.delivery,
                    worker=report.worker,
                )
                return Recorded.APPLIED
            if not state.accepts_outcome(report.attempt, report.delivery):
                return Recorded.FENCED
            self._record_outcome(report)
            self._advance()
        return Recorded.APPLIED

    def cancel(self, reason: str, origin: Origin) -> None:
        """Stop the run: every task not yet finished is cancelled."""
        if self.status.is_terminal:
            raise RunAlreadyFinishedError(self.id, self.status)
        with self._acting(origin):
            self._cancelled(reason=reason)

    def _record_outcome(self, report: TaskReport) -> None:
        task, attempt, delivery, worker = (
            report.task,
            report.attempt,
            report.delivery,
            report.worker,
        )
        stdout_tail, stderr_tail = report.stdout_tail, report.stderr_tail
        if report.outcome == "succeeded":
            self._task_succeeded(
                task, attempt, delivery, worker, report.exit_code, report.output,
                stdout_tail, stderr_tail,
            )  # fmt: skip
        elif report.outcome == "failed":
            self._task_failed(
                task, attempt, delivery, worker, report.exit_code, report.error,
                stdout_tail, stderr_tail,
            )  # fmt: skip
        else:
            self._task_timed_out(
                task, attempt, delivery, worker, report.error, stdout_tail, stderr_tail
            )

    def _advance(self) -> None:
        """Queue tasks whose dependencies succeeded, skip those that can no longer run, finish."""
        progressed = True
        while progressed:
            progressed = False
            for state in self.tasks.values():
                if state.status is not TaskStatus.PENDING:
                    continue
                dependencies = [self.tasks[name] for name in state.depends_on]
                blocker = next(
                    (d for d in dependencies if d.status.is_terminal and d.status != "succeeded"),
                    None,
                )
                if blocker is not None:
                    reason = f"dependency {blocker.name!r} {blocker.status.value}"
                    self._task_skipped(task=state.name, reason=reason)
                    progressed = True
                elif all(d.status is TaskStatus.SUCCEEDED for d in dependencies):
                    self._task_queued(task=state.name, attempt=1, queue=state.queue)
        if all(state.status.is_terminal for state in self.tasks.values()):
            self._finish()

    def _finish(self) -> None:
        unsuccessful = [s for s in self.tasks.values() if s.status is not TaskStatus.SUCCEEDED]
        if not unsuccessful:
            self._succeeded()
            return
        failed = [s.name for s in unsuccessful if s.status is not TaskStatus.SKIPPED]
        skipped = len(unsuccessful) - len(failed)
        reason = f"{len(failed)} task(s) did not succeed: {', '.join(failed)}"
        if skipped:
            reason += f"; {skipped} skipped"
        self._failed(reason=reason)

    # Mutators: they only assign state, because they re-run whenever the run is loaded.

    @event(TaskQueued)
    def _task_queued(self, task: str, attempt: int, queue: str, timestamp: Any = None) -> None:
        self.tasks[task] = self.tasks[task].queued(attempt, timestamp)

    @event(TaskStarted)
    def _task_started(
        self, task: str, attempt: int, delivery: int, worker: str, timestamp: Any = None
    ) -> None:
        self.tasks[task] = self.tasks[task].started(delivery, worker, timestamp)
        self.status = RunStatus.RUNNING

    @event(TaskSucceeded)
    def _task_succeeded(
        self,
        task: str,
        attempt: int,
        delivery: int,
        worker: str,
        exit_code: int | None,
        output: dict[str, Any] | None,
        stdout_tail: str,
        stderr_tail: str,
        timestamp: Any = None,
    ) -> None:
        self.tasks[task] = self.tasks[task].finished(
            TaskStatus.SUCCEEDED,
            timestamp,
            delivery=delivery,
            worker=worker,
            exit_code=exit_code,
            output=output,
            stdout_tail=stdout_tail,
            stderr_tail=stderr_tail,
        )

    @event(TaskFailed)
    def _task_failed(
        self,
        task: str,
        attempt: int,
        delivery: int,
        worker: str,
        exit_code: int | None,
        error: str | None,
        stdout_tail: str,
        stderr_tail: str,
        timestamp: Any = None,
    ) -> None:
        self.tasks[task] = self.tasks[task].finished(
            TaskStatus.FAILED,
            timestamp,
            delivery=delivery,
            worker=worker,
            exit_code=exit_code,
            error=error,
            stdout_tail=stdout_tail,
            stderr_tail=stderr_tail,
        )

    @event(TaskTimedOut)
    def _task_timed_out(
        self,
        task: str,
        attempt: int,
        delivery: int,
        worker: str,
        error: str | None,
        stdout_tail: str,
        stderr_tail: str,
        timestamp: Any = None,
    ) -> None:
        self.tasks[task] = self.tasks[task].finished(
            TaskStatus.TIMED_OUT,
            timestamp,
            delivery=delivery,
            worker=worker,
            error=error,
            stdout_tail=stdout_tail,
            stderr_tail=stderr_tail,
        )

    @event(TaskSkipped)
    def _task_skipped(self, task: str, reason: str, timestamp: Any = None) -> None:
        self.tasks[task] = self.tasks[task].finished(TaskStatus.SKIPPED, timestamp, reason=reason)

    @event(Succeeded)
    def _succeeded(self, timestamp: Any = None) -> None:
        self.status = RunStatus.SUCCEEDED
        self.finished_at = timestamp

    @event(Failed)
    def _failed(self, reason: str, timestamp: Any = None) -> None:
        self.status = RunStatus.FAILED
        self.reason = reason
        self.finished_at = timestamp

    @event(Cancelled)
    def _cancelled(self, reason: str, timestamp: Any = None) -> None:
        for name, state in self.tasks.items():
            if not state.status.is_terminal:
                self.tasks[name] = state.finished(TaskStatus.CANCELLED, timestamp)
        self.status = RunStatus.CANCELLED
        self.reason = reason
        self.finished_at = timestamp
