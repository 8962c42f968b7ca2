"""The Run aggregate: one execution of a pinned workflow version, task attempt by attempt."""

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Snapshot as LibrarySnapshot
from eventsourcing.domain import event

from aggregates.errors import OutsideHistoryError, RunAlreadyFinishedError, RunNotRetryableError
from aggregates.provenance import AttributedAggregate, Origin
from aggregates.retry import FailureKind, RetryPolicy
from aggregates.spec import WorkflowSpec
from aggregates.task_state import TaskState, TaskStatus
from aggregates.trigger_rules import Decision, decide

DEADLINE_GRACE_SECONDS = 15.0
"""After a running attempt's timeout: the worker's kill grace (5 s) plus time to report."""

UNREGISTERED_VERSION = 0
"""The `workflow_version` of an ad-hoc run, whose definition is not a registered workflow."""


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
    includes_start: bool = False
    """An outcome whose start was not reported apart: record the start with it."""
    instance: str | None = None
    """The worker process (its heartbeat's instance id) that ran this delivery; None from a
    worker too old to say."""


@dataclass(frozen=True)
class ForkLink:
    """One end of a fork: the other run, and the parent's version the fork started from."""

    run_id: UUID
    from_version: int


class Run(AttributedAggregate):
    """One execution of a workflow version: the state of every task and of the run."""

    class Started(AttributedAggregate.Created, AttributedAggregate.Event):
        workflow: str
        workflow_version: int
        tasks: list[dict[str, Any]]
        retry: dict[str, Any]
        inputs: dict[str, Any]
        request_hash: str
        trigger: str
        retry_of: str | None
        scheduled_for: datetime | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Runs recorded before schedules existed were not started by a tick."""
            state["scheduled_for"] = None

    class TaskReused(AttributedAggregate.Event):
        task: str
        from_run: str
        output: dict[str, Any] | None

    class TaskQueued(AttributedAggregate.Event):
        task: str
        attempt: int
        queue: str

    class TaskStarted(AttributedAggregate.Event):
        task: str
        attempt: int
        delivery: int
        worker: str
        instance: str | None
        """The worker process that started it (ADR 25). Events stored before processes were
        told apart have none: read it with `vars(e).get`."""

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
        worker: str | None
        exit_code: int | None
        error: str | None
        cause: str
        stdout_tail: str
        stderr_tail: str

    class TaskTimedOut(AttributedAggregate.Event):
        task: str
        attempt: int
        delivery: int
        worker: str | None
        error: str | None
        stdout_tail: str
        stderr_tail: str

    class TaskRetryScheduled(AttributedAggregate.Event):
        task: str
        attempt: int
        not_before: datetime
        reason: str

    class TaskSkipped(AttributedAggregate.Event):
        task: str
        reason: str

    class Succeeded(AttributedAggregate.Event):
        pass

    class Failed(AttributedAggregate.Event):
        reason: str

    class Cancelled(AttributedAggregate.Event):
        reason: str

    class Retried(AttributedAggregate.Event):
        retry_run_id: str

    class Forked(AttributedAggregate.Event):
        """On the parent: a new run was started from this run's state at `from_version`."""

        fork_run_id: str
        from_version: int

    class ForkedFrom(AttributedAggregate.Event):
        """On the child, right after `Started`: the run and version it was forked from."""

        from_run: str
        from_version: int

    class Snapshot(LibrarySnapshot):
        """The run's state at one version, so a long run is rebuilt from it and the events
        after it (ADR 21). JSON stores the status enum as its bare value: it is restored
        here; tasks and fork links come back whole through their transcodings."""

        def mutate(self, _: None) -> "Run":
            run = super().mutate(_)
            if not isinstance(run, Run):
                msg = f"a Run snapshot holds a {type(run).__name__}"
                raise TypeError(msg)
            run.status = RunStatus(run.status)
            return run

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
        retry_of: UUID | None = None,
        reused: dict[str, dict[str, Any] | None] | None = None,
        scheduled_for: datetime | None = None,
        fork_of: ForkLink | None = None,
    ) -> "Run":
        """A new run of `spec` with its ready tasks queued, all in one set of pending events.

        `reused` maps tasks that succeeded in the run this one retries (or is forked from,
        `fork_of`) to their outputs;
        `scheduled_for` is the cron tick that started it (schedule and backfill runs).
        """
        run = cls._create(
            cls.Started,
            id=run_id,
            **origin.provenance(tenant),
            workflow=spec.name,
            workflow_version=workflow_version,
            tasks=[task.model_dump(mode="json") for task in spec.tasks],
            retry=spec.retry.model_dump(mode="json"),
            inputs=inputs,
            request_hash=request_hash,
            trigger=trigger,
            retry_of=None if retry_of is None else str(retry_of),
            scheduled_for=scheduled_for,
        )
        source = retry_of if fork_of is None else fork_of.run_id
        with run._acting(origin):
            if fork_of is not None:
                run._forked_from(str(fork_of.run_id), fork_of.from_version)
            for task, output in (reused or {}).items():
                run._task_reused(task, str(source), output)
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
        retry: dict[str, Any],
        inputs: dict[str, Any],
        request_hash: str,
        trigger: str,
        retry_of: str | None,
        scheduled_for: datetime | None = None,
        traceparent: str | None = None,
    ) -> None:
        self.tenant = tenant
        self.correlation_id = correlation_id
        self.traceparent = traceparent
        """The trace of the command that started the run (None for runs stored before traces
        were recorded); what the engine does for the run later joins it."""
        self.workflow = workflow
        self.workflow_version = workflow_version
        self.task_specs = tasks
        self.default_retry = retry
        self.inputs = inputs
        self.request_hash = request_hash
        self.trigger = trigger
        self.retry_of = retry_of
        self.scheduled_for = scheduled_for
        self.retried_by: list[str] = []
        self.forked_from: ForkLink | None = None
        self.forked_by: list[ForkLink] = []
        self.status = RunStatus.QUEUED
        self.reason: str | None = None
        self.finished_at: datetime | None = None
        self.tasks = {
            task["name"]: TaskState(
                name=task["name"],
                depends_on=tuple(task["depends_on"]),
                queue=task["queue"],
                trigger_rule=task["trigger_rule"],
                timeout_seconds=task["timeout_seconds"],
            )
            for task in tasks
        }

    def __deepcopy__(self, memo: dict[int, Any]) -> "Run":
        """A copy for a command: it shares what no command changes (the task specs, inputs
        and retry policy, and the task states, which are frozen) and copies the containers
        commands change. The library copies a cached run for every command it is given; a
        full deep copy of a 20-task run cost as much as rebuilding it from its events."""
        copied = copy.copy(self)
        copied.tasks = dict(self.tasks)
        copied.retried_by = list(self.retried_by)
        copied.forked_by = list(self.forked_by)
        # The library's list of events triggered and not yet saved: the copy's own.
        copied._pending_events = list(self._pending_events)
        memo[id(self)] = copied
        return copied

    def task_spec(self, name: str) -> dict[str, Any]:
        """The pinned definition of task `name`."""
        return next(spec for spec in self.task_specs if spec["name"] == name)

    def retry_policy(self, name: str) -> RetryPolicy:
        own = self.task_spec(name).get("retry")
        return RetryPolicy.model_validate(own if own is not None else self.default_retry)

    def upstream_outputs(self, name: str) -> dict[str, dict[str, Any] | None]:
        """The outputs of task `name`'s dependencies, which it receives as input."""
        return {
            dependency: self.tasks[dependency].output for dependency in self.tasks[name].depends_on
        }

    # Commands

    def acting_for(self, actor: str, at: datetime) -> Origin:
        """The origin of what a component (worker, timer, reconciler) does for this run: the
        run's correlation id and trace, so its whole history follows one trace."""
        return Origin.joining(actor, self.correlation_id, at, self.traceparent)

    def record(self, report: TaskReport, origin: Origin, jitter: float = 1.0) -> Recorded:
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
                    report.task, report.attempt, report.delivery, report.worker, report.instance
                )
                return Recorded.APPLIED
            if not state.accepts_outcome(report.attempt, report.delivery):
                return Recorded.FENCED
            if report.includes_start and state.status is TaskStatus.QUEUED:
                # A fast attempt's start travels with its outcome: two events, one commit.
                self._task_started(
                    report.task, report.attempt, report.delivery, report.worker, report.instance
                )
            self._record_outcome(report)
            self._after_outcome(report.task, jitter)
        return Recorded.APPLIED

    def expire(self, task: str, attempt: int, origin: Origin, jitter: float = 1.0) -> Recorded:
        """Time out a running attempt whose deadline passed without a result (engine side)."""
        state = self.tasks.get(task)
        if state is None or self.status.is_terminal or state.attempt != attempt:
            return Recorded.FENCED
        deadline = state.deadline(DEADLINE_GRACE_SECONDS)
        if deadline is None or origin.at < deadline:
            return Recorded.FENCED
        with self._acting(origin):
            error = (
                f"no result within {state.timeout_seconds:g} s + {DEADLINE_GRACE_SECONDS:g} s grace"
            )
            self._task_timed_out(task, attempt, state.delivery, state.worker, error, "", "")
            self._after_outcome(task, jitter)
        return Recorded.APPLIED

    def abandon(
        self,
        task: str,
        attempt: int,
        cause: Literal["worker_lost", "undeliverable"],
        error: str,
        origin: Origin,
        *,
        worker: str | None = None,
        instance: str | None = None,
        jitter: float = 1.0,
    ) -> Recorded:
        """Fail an attempt that cannot report: its worker is lost or its dispatch undeliverable.

        With `worker`, only an attempt running there is failed; with `instance` too, only one
        that process started (an attempt whose start named no process matches by name alone).
        """
        state = self.tasks.get(task)
        if state is None or self.status.is_terminal or state.attempt != attempt:
            return Recorded.FENCED
        if state.status not in (TaskStatus.QUEUED, TaskStatus.RUNNING):
            return Recorded.FENCED
        if worker is not None and not state.running_on(worker, instance):
            return Recorded.FENCED
        with self._acting(origin):
            self._task_failed(
                task, attempt, state.delivery, state.worker, None, error, cause, "", ""
            )
            self._after_outcome(task, jitter)
        return Recorded.APPLIED

    def requeue(self, task: str, attempt: int, origin: Origin) -> Recorded:
        """Queue a retry whose backoff has passed."""
        state = self.tasks.get(task)
        if state is None or self.status.is_terminal:
            return Recorded.FENCED
        due = state.retry_at is not None and origin.at >= state.retry_at
        if state.status is not TaskStatus.WAITING_RETRY or state.attempt != attempt or not due:
            return Recorded.FENCED
        with self._acting(origin):
            self._task_queued(task, attempt, state.queue)
        return Recorded.APPLIED

    def cancel(self, reason: str, origin: Origin) -> None:
        """Stop the run: every task not yet finished is cancelled."""
        if self.status.is_terminal:
            raise RunAlreadyFinishedError(self.id, self.status)
        with self._acting(origin):
            self._cancelled(reason)

    def link_retry(self, retry_run_id: UUID, origin: Origin) -> None:
        """Record that a new run retries this finished one (this run itself never reopens)."""
        if not self.status.is_terminal or self.status is RunStatus.SUCCEEDED:
            raise RunNotRetryableError(self.id, self.status)
        with self._acting(origin):
            self._retried(str(retry_run_id))

    def link_fork(self, fork_run_id: UUID, from_version: int, origin: Origin) -> None:
        """Record that a new run starts from this run's state at `from_version` (finished or
        not, this run is otherwise unchanged); a version outside 1..head names `from_version`."""
        if not 1 <= from_version <= self.version:
            msg = f"must be from 1 to {self.version} (the run's latest version)"
            raise OutsideHistoryError("from_version", msg)
        with self._acting(origin):
            self._forked(str(fork_run_id), from_version)

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
                "error" if report.exit_code is None else "exit", stdout_tail, stderr_tail,
            )  # fmt: skip
        else:
            self._task_timed_out(
                task, attempt, delivery, worker, report.error, stdout_tail, stderr_tail
            )

    def _after_outcome(self, task: str, jitter: float) -> None:
        """Schedule a retry if the policy grants one; otherwise let the DAG move on."""
        state = self.tasks[task]
        kind = _failure_kind(state)
        if kind is not None:
            policy = self.retry_policy(task)
            if policy.retries(kind, state.attempt):
                delay = policy.delay(state.attempt, jitter)
                not_before = self._now() + timedelta(seconds=delay)
                reason = f"{kind} on attempt {state.attempt} of {policy.max_attempts}"
                if delay > 0:
                    reason += f"; {policy.backoff} backoff {delay:.3g} s"
                next_attempt = state.attempt + 1
                self._task_retry_scheduled(task, next_attempt, not_before, reason)
                if delay <= 0:
                    self._task_queued(task, next_attempt, state.queue)
                return
        self._advance()

    def _now(self) -> datetime:
        assert self._origin is not None  # commands always run inside _acting
        return self._origin.at

    def _advance(self) -> None:
        """Queue or skip pending tasks by their trigger rules, until nothing changes; finish."""
        progressed = True
        while progressed:
            progressed = False
            for state in self.tasks.values():
                if state.status is not TaskStatus.PENDING:
                    continue
                dependencies = [self.tasks[name] for name in state.depends_on]
                decision, reason = decide(state.trigger_rule, dependencies)
                if decision is Decision.SKIP:
                    self._task_skipped(state.name, reason or "trigger rule not met")
                    progressed = True
                elif decision is Decision.QUEUE:
                    self._task_queued(state.name, 1, state.queue)
        if all(state.status.is_terminal for state in self.tasks.values()):
            self._finish()

    def _finish(self) -> None:
        failed = [
            s for s in self.tasks.values() if s.status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT)
        ]
        if not failed:
            self._succeeded()
            return
        described = ", ".join(f"{s.name} ({s.status.value}, attempt {s.attempt})" for s in failed)
        skipped = sum(1 for s in self.tasks.values() if s.status is TaskStatus.SKIPPED)
        reason = f"{len(failed)} of {len(self.tasks)} task(s) did not succeed: {described}"
        if skipped:
            reason += f"; {skipped} skipped"
        self._failed(reason)

    # Mutators: they only assign state, because they re-run whenever the run is loaded.

    @event(TaskReused)
    def _task_reused(
        self, task: str, from_run: str, output: dict[str, Any] | None, timestamp: Any = None
    ) -> None:
        self.tasks[task] = self.tasks[task].finished(
            TaskStatus.SUCCEEDED, timestamp, output=output, reused_from=from_run
        )

    @event(TaskQueued)
    def _task_queued(self, task: str, attempt: int, queue: str, timestamp: Any = None) -> None:
        self.tasks[task] = self.tasks[task].queued(attempt, timestamp)

    @event(TaskStarted)
    def _task_started(
        self,
        task: str,
        attempt: int,
        delivery: int,
        worker: str,
        instance: str | None = None,  # absent from events stored before ADR 25
        timestamp: Any = None,
    ) -> None:
        self.tasks[task] = self.tasks[task].started(delivery, worker, timestamp, instance)
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
            error=None,
            cause=None,
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
        worker: str | None,
        exit_code: int | None,
        error: str | None,
        cause: str,
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
            cause=cause,
            stdout_tail=stdout_tail,
            stderr_tail=stderr_tail,
        )

    @event(TaskTimedOut)
    def _task_timed_out(
        self,
        task: str,
        attempt: int,
        delivery: int,
        worker: str | None,
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
            cause="timed_out",
            stdout_tail=stdout_tail,
            stderr_tail=stderr_tail,
        )

    @event(TaskRetryScheduled)
    def _task_retry_scheduled(
        self, task: str, attempt: int, not_before: datetime, reason: str
    ) -> None:
        self.tasks[task] = self.tasks[task].waiting_retry(attempt, not_before)

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

    @event(Retried)
    def _retried(self, retry_run_id: str) -> None:
        self.retried_by.append(retry_run_id)

    @event(Forked)
    def _forked(self, fork_run_id: str, from_version: int) -> None:
        self.forked_by.append(ForkLink(UUID(fork_run_id), from_version))

    @event(ForkedFrom)
    def _forked_from(self, from_run: str, from_version: int) -> None:
        self.forked_from = ForkLink(UUID(from_run), from_version)


def _failure_kind(state: TaskState) -> FailureKind | None:
    if state.status is TaskStatus.TIMED_OUT:
        return "timed_out"
    if state.status is not TaskStatus.FAILED or state.cause == "undeliverable":
        return None
    return "worker_lost" if state.cause == "worker_lost" else "failed"
