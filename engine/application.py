"""The Ledgerflow application: every use case, from registering a workflow to recording results."""

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from aggregates.errors import (
    IdempotencyKeyReusedError,
    RunNotFoundError,
    WorkflowAlreadyExistsError,
    WorkflowNotFoundError,
)
from aggregates.names import idempotent_run_id, workflow_id
from aggregates.provenance import Origin
from aggregates.run import UNREGISTERED_VERSION, ForkLink, Recorded, Run, TaskReport
from aggregates.spec import WorkflowSpec, check_graph
from aggregates.task_state import TaskStatus
from aggregates.worker import Heartbeat, Worker
from aggregates.workflow import Workflow
from engine.audit import AuditReads
from engine.scheduling import Scheduling
from engine.subscriptions import Subscriptions
from engine.time_travel import PastReads
from engine.triggers import Triggering

Clock = Callable[[], datetime]
SAVE_ATTEMPTS = 20
"""Tries of a command whose save conflicted with another writer of the same aggregate (each
reloads and decides again), with a random pause growing up to `CONFLICT_PAUSE_SECONDS` x the
try: eight writers on one run have been seen to need more than five."""
CONFLICT_PAUSE_SECONDS = 0.002

_T = TypeVar("_T")
_Decision = tuple[_T, Sequence[Aggregate]]
"""What a command decided: the value it returns and the aggregates it changed (none: no save)."""


class ContendedError(RuntimeError):
    """An aggregate kept changing under a command until its tries ran out: nothing was
    recorded, and trying again later is safe (the API answers 503 with `Retry-After`)."""


PINNED_SPECS = 1024
"""Workflow definitions kept ready for new runs (the least recently added go first)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Applied(StrEnum):
    """What `PUT /v1/workflows/{name}` did."""

    CREATED = "created"
    REVISED = "revised"
    UNCHANGED = "unchanged"


class Ledgerflow(PastReads, AuditReads, Scheduling, Subscriptions, Triggering, Application[UUID]):
    """One eventsourcing Application, one events table, one global position sequence."""

    name = "Ledgerflow"
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}
    """Aggregates read lately stay in memory and are brought up to date with only the events
    recorded since (the library's fast-forward), instead of rebuilt from all their events on
    every read: a 20-task fan-out's run was rebuilt from ~70 events per recorded result."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = utc_now,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.jitter = jitter
        self._pinned: dict[UUID, tuple[int, WorkflowSpec, int]] = {}
        """Workflow id -> (its version when read, its definition to run, definition version)."""
        self._pinning = threading.Lock()

    def origin(
        self, actor: str, correlation_id: str | None = None, traceparent: str | None = None
    ) -> Origin:
        """The provenance of a command issued now, in the caller's trace or a new one."""
        return Origin.joining(actor, correlation_id or str(uuid4()), self.clock(), traceparent)

    # Workflows

    def register_workflow(self, tenant: str, spec: WorkflowSpec, origin: Origin) -> Workflow:
        for _ in range(SAVE_ATTEMPTS):
            workflow = Workflow.register(tenant, spec, origin)
            try:
                self.save(workflow, *self.trigger_indexes(tenant, spec, origin))
            except IntegrityError:
                if spec.triggers and not self._workflow_exists(tenant, spec.name):
                    continue  # a trigger index changed concurrently: list it again
                raise WorkflowAlreadyExistsError(spec.name) from None
            return workflow
        raise WorkflowAlreadyExistsError(spec.name)

    def apply_workflow(
        self, tenant: str, spec: WorkflowSpec, origin: Origin
    ) -> tuple[Workflow, Applied]:
        """Create the workflow, or revise it when its definition changed (idempotent apply)."""
        for attempt in range(SAVE_ATTEMPTS):
            try:
                workflow = self.get_workflow(tenant, spec.name)
            except WorkflowNotFoundError:
                try:
                    return self.register_workflow(tenant, spec, origin), Applied.CREATED
                except WorkflowAlreadyExistsError:
                    continue
            if not workflow.revise(spec, origin):
                return workflow, Applied.UNCHANGED
            try:
                self.save(workflow, *self.trigger_indexes(tenant, spec, origin))
            except IntegrityError:
                self._pause_after_conflict(attempt)
                continue  # revised concurrently: decide again on the latest version
            return workflow, Applied.REVISED
        raise WorkflowAlreadyExistsError(spec.name)

    def _workflow_exists(self, tenant: str, name: str) -> bool:
        return bool(self.recorder.select_events(workflow_id(tenant, name), limit=1))

    def _spec_to_run(self, tenant: str, name: str) -> tuple[WorkflowSpec, int]:
        """The workflow's current definition and its version, for a new run.

        Rebuilding the workflow from all its events and validating its definition took an
        eighth of the API's busy time; the result is reused while the workflow's latest event
        is still the one it was rebuilt up to (an indexed one-row read tells).
        """
        key = workflow_id(tenant, name)
        latest = self.recorder.select_events(key, desc=True, limit=1)
        if not latest:
            raise WorkflowNotFoundError(name)
        pinned = self._pinned.get(key)
        if pinned is not None and pinned[0] == latest[0].originator_version:
            return pinned[1], pinned[2]
        workflow = self.get_workflow(tenant, name)
        spec = workflow.spec_to_run()  # a retired workflow raises, and is not kept
        with self._pinning:  # request threads share the engine
            if len(self._pinned) >= PINNED_SPECS:
                del self._pinned[next(iter(self._pinned))]
            self._pinned[key] = (workflow.version, spec, workflow.current_version)
        return spec, workflow.current_version

    def get_workflow(self, tenant: str, name: str) -> Workflow:
        try:
            workflow: Workflow = self.repository.get(workflow_id(tenant, name))
        except AggregateNotFoundError:
            raise WorkflowNotFoundError(name) from None
        return workflow

    def retire_workflow(
        self, tenant: str, name: str, reason: str | None, origin: Origin
    ) -> tuple[Workflow, bool]:
        """Start no more runs of the workflow; returns (workflow, retired now).

        Retiring a retired workflow records nothing. `PUT` (apply) restores it.
        """

        def decide() -> _Decision[tuple[Workflow, bool]]:
            workflow = self.get_workflow(tenant, name)
            if not workflow.retire(reason, origin):
                return (workflow, False), ()
            return (workflow, True), (workflow,)

        # A conflict means it was revised or retired concurrently: decide again on the latest.
        msg = f"workflow {name} kept changing while it was being retired"
        return self._until_saved(decide, msg)

    # Runs

    def start_run(
        self,
        tenant: str,
        workflow_name: str,
        inputs: dict[str, Any],
        origin: Origin,
        idempotency_key: str | None = None,
    ) -> tuple[Run, bool]:
        """Start a run of the workflow's current version; returns (run, created).

        With an idempotency key the run id is derived from (tenant, key): the same request
        returns the run it started, a different one raises `IdempotencyKeyReusedError`.
        A retired workflow starts no run (`WorkflowRetiredError`).
        """

        return self._start_run(
            tenant,
            lambda: self._spec_to_run(tenant, workflow_name),
            inputs,
            request_hash=_request_hash(workflow_name, inputs),
            trigger="api",
            origin=origin,
            idempotency_key=idempotency_key,
        )

    def start_adhoc_run(
        self,
        tenant: str,
        spec: WorkflowSpec,
        inputs: dict[str, Any],
        origin: Origin,
        idempotency_key: str | None = None,
    ) -> tuple[Run, bool]:
        """Start a run of a definition that is not registered; returns (run, created).

        The run pins `UNREGISTERED_VERSION` and is triggered `adhoc`; its graph is checked
        as a registration's is. Idempotency keys work as for `start_run`, the whole
        definition being part of the request.
        """
        check_graph(spec)
        return self._start_run(
            tenant,
            lambda: (spec, UNREGISTERED_VERSION),
            inputs,
            request_hash=_request_hash(spec.as_data(), inputs),
            trigger="adhoc",
            origin=origin,
            idempotency_key=idempotency_key,
        )

    def _start_run(
        self,
        tenant: str,
        pinned: Callable[[], tuple[WorkflowSpec, int]],
        inputs: dict[str, Any],
        *,
        request_hash: str,
        trigger: str,
        origin: Origin,
        idempotency_key: str | None,
    ) -> tuple[Run, bool]:
        """Start a run of the (spec, version) `pinned` returns, unless the key started one."""
        if idempotency_key is not None:
            run_id = idempotent_run_id(tenant, idempotency_key)
            existing = self._find_run(tenant, run_id)
            if existing is not None:
                return _same_request(existing, request_hash), False
        else:
            run_id = uuid4()
        spec, version = pinned()
        run = Run.start(
            run_id=run_id,
            tenant=tenant,
            spec=spec,
            workflow_version=version,
            inputs=inputs,
            request_hash=request_hash,
            trigger=trigger,
            origin=origin,
        )
        try:
            self.save(run)
        except IntegrityError:
            existing = self._find_run(tenant, run_id)
            if existing is None:
                raise
            return _same_request(existing, request_hash), False
        return run, True

    def get_run(self, tenant: str, run_id: UUID) -> Run:
        run = self._find_run(tenant, run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return run

    def cancel_run(self, tenant: str, run_id: UUID, reason: str, origin: Origin) -> Run:
        def decide() -> _Decision[Run]:
            run = self.get_run(tenant, run_id)
            run.cancel(reason, origin)
            return run, (run,)

        # A conflict means a result was recorded meanwhile: cancel the newer state.
        msg = f"run {run_id} kept changing while it was being cancelled"
        return self._until_saved(decide, msg)

    # Results

    def record_reports(self, reports: Sequence[TaskReport]) -> list[Recorded | None]:
        """Apply a batch of worker reports in one transaction; None marks an unknown run.

        A concurrent write to one of the runs (a cancel, another recorder) makes the save
        conflict; the whole batch is then re-applied to freshly loaded runs.
        """

        def decide() -> _Decision[list[Recorded | None]]:
            runs: dict[UUID, Run | None] = {}
            outcomes: list[Recorded | None] = []
            for report in reports:
                if report.run_id not in runs:
                    runs[report.run_id] = self.load_run(report.run_id)
                run = runs[report.run_id]
                if run is None:
                    outcomes.append(None)
                    continue
                origin = run.acting_for(f"worker:{report.worker}", self.clock())
                outcomes.append(run.record(report, origin, self.jitter()))
            return outcomes, [run for run in runs.values() if run is not None]

        msg = f"could not record {len(reports)} report(s) after {SAVE_ATTEMPTS} conflicts"
        return self._until_saved(decide, msg)

    def retry_run(self, tenant: str, run_id: UUID, origin: Origin) -> Run:
        """Start a new run linked to a failed or cancelled one, reusing its successful tasks."""

        def decide() -> _Decision[Run]:
            old = self.get_run(tenant, run_id)
            new_id = uuid5(old.id, f"retry-{len(old.retried_by) + 1}")
            reused = _succeeded_outputs(old)
            old.link_retry(new_id, origin)
            new = Run.start(
                run_id=new_id,
                tenant=tenant,
                spec=_pinned_spec(old),
                workflow_version=old.workflow_version,
                inputs=old.inputs,
                request_hash=old.request_hash,
                trigger="retry",
                origin=origin,
                retry_of=old.id,
                reused=reused,
            )
            return new, (old, new)

        # A conflict means the old run changed, or a concurrent retry won: decide again.
        msg = f"run {run_id} kept changing while it was being retried"
        return self._until_saved(decide, msg)

    def fork_run(
        self,
        tenant: str,
        run_id: UUID,
        from_version: int,
        origin: Origin,
        idempotency_key: str | None = None,
    ) -> tuple[Run, bool]:
        """Start a new run from the state of run `run_id` after its `from_version`-th event;
        returns (run, created).

        Tasks that had succeeded by then are reused with their outputs, the rest run again.
        The parent, finished or not, records only `RunForked`; the child records `RunForkedFrom`.
        Idempotency keys work as for `start_run`, the request being (parent, version).
        """
        request_hash = _request_hash({"fork_of": str(run_id), "from_version": from_version}, {})

        def decide() -> _Decision[tuple[Run, bool]]:
            parent = self.get_run(tenant, run_id)
            if idempotency_key is None:
                new_id = uuid5(parent.id, f"fork-{len(parent.forked_by) + 1}")
            else:
                new_id = idempotent_run_id(tenant, idempotency_key)
                existing = self._find_run(tenant, new_id)
                if existing is not None:
                    return (_same_request(existing, request_hash), False), ()
            parent.link_fork(new_id, from_version, origin)
            past: Run = self.repository.get(run_id, version=from_version)
            new = Run.start(
                run_id=new_id,
                tenant=tenant,
                spec=_pinned_spec(parent),
                workflow_version=parent.workflow_version,
                inputs=parent.inputs,
                request_hash=request_hash,
                trigger="fork",
                origin=origin,
                reused=_succeeded_outputs(past),
                fork_of=ForkLink(parent.id, from_version),
            )
            return (new, True), (parent, new)

        # A conflict means the parent changed, or a concurrent fork won: decide again.
        msg = f"run {run_id} kept changing while it was being forked"
        return self._until_saved(decide, msg)

    # Time and liveness: called by the driving loops with what the read models say is due.

    def requeue_retry(self, run_id: UUID, task: str, attempt: int) -> Recorded | None:
        """Queue a retry whose backoff has passed."""
        return self._change_run(
            run_id, "engine:timers", lambda run, origin: run.requeue(task, attempt, origin)
        )

    def expire_attempt(self, run_id: UUID, task: str, attempt: int) -> Recorded | None:
        """Time out a running attempt whose deadline passed with no result."""
        return self._change_run(
            run_id,
            "engine:timers",
            lambda run, origin: run.expire(task, attempt, origin, self.jitter()),
        )

    def abandon_attempt(
        self,
        run_id: UUID,
        task: str,
        attempt: int,
        *,
        cause: Literal["worker_lost", "undeliverable"],
        error: str,
        worker: str | None = None,
        instance: str | None = None,
    ) -> Recorded | None:
        """Fail an attempt whose worker was lost or whose dispatch could not be delivered."""
        return self._change_run(
            run_id,
            f"engine:{cause}",
            lambda run, origin: run.abandon(
                task,
                attempt,
                cause,
                error,
                origin,
                worker=worker,
                instance=instance,
                jitter=self.jitter(),
            ),
        )

    def _pause_after_conflict(self, attempt: int) -> None:
        """A random pause before trying again, longer each try, so that writers racing on one
        aggregate spread out instead of colliding again."""
        time.sleep(self.jitter() * CONFLICT_PAUSE_SECONDS * (attempt + 1))

    def _until_saved(self, decide: Callable[[], _Decision[_T]], contended: str) -> _T:
        """Save what `decide` changed and return its value; while the save conflicts with another
        writer, pause and let `decide` load and decide again, up to `SAVE_ATTEMPTS` tries."""
        for attempt in range(SAVE_ATTEMPTS):
            value, changed = decide()
            if not changed:
                return value
            try:
                self.save(*changed)
            except IntegrityError:
                self._pause_after_conflict(attempt)
                continue
            return value
        raise ContendedError(contended)

    def _change_run(
        self, run_id: UUID, actor: str, change: Callable[[Run, Origin], Recorded]
    ) -> Recorded | None:
        def decide() -> _Decision[Recorded | None]:
            run = self.load_run(run_id)
            if run is None:
                return None, ()
            outcome = change(run, run.acting_for(actor, self.clock()))
            if outcome is Recorded.FENCED:
                return outcome, ()
            return outcome, (run,)

        return self._until_saved(decide, f"run {run_id} kept changing under {actor}")

    # Workers

    def record_heartbeat(self, beat: Heartbeat) -> Worker:
        """Register a worker on its first heartbeat and follow its liveness changes."""
        origin = self.origin(f"worker:{beat.name}")

        def decide() -> _Decision[Worker]:
            worker = self.find_worker(beat.name, beat.instance)
            if worker is None:
                worker = Worker.register(
                    name=beat.name,
                    instance=beat.instance,
                    queues=list(beat.queues),
                    capacity=beat.capacity,
                    software_version=beat.version,
                    host=beat.host,
                    origin=origin,
                )
            worker.heard_from(origin)
            if beat.state == "draining":
                worker.drain(origin)
            elif beat.state == "stopped":
                worker.deregister(origin)
            return worker, (worker,)

        return self._until_saved(decide, f"worker {beat.name} kept changing")

    def declare_worker_lost(self, name: str, instance: str, last_seen: datetime) -> bool:
        """Record that a worker went silent; its running attempts are failed by the caller."""
        worker = self.find_worker(name, instance)
        if worker is None or not worker.lose(last_seen, self.origin("engine:liveness")):
            return False
        try:
            self.save(worker)
        except IntegrityError:
            return False  # it spoke (or was declared lost) meanwhile
        return True

    def find_worker(self, name: str, instance: str) -> Worker | None:
        try:
            worker: Worker = self.repository.get(Worker.id_for(name, instance))
        except AggregateNotFoundError:
            return None
        return worker

    def load_run(self, run_id: UUID) -> Run | None:
        """Any tenant's run, for the engine's own followers; requests use `get_run`."""
        try:
            run: Run = self.repository.get(run_id)
        except AggregateNotFoundError:
            return None
        return run

    def _find_run(self, tenant: str, run_id: UUID) -> Run | None:
        run = self.load_run(run_id)
        # Another tenant's run does not exist for this tenant (404, never 403).
        return run if run is not None and run.tenant == tenant else None


def _request_hash(workflow: str | dict[str, Any], inputs: dict[str, Any]) -> str:
    """What an Idempotency-Key is bound to: the workflow's name (or whole ad-hoc definition)
    and the inputs. Stored in runs: changing it would break the keys already given out."""
    canonical = json.dumps(
        {"workflow": workflow, "inputs": inputs}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _pinned_spec(run: Run) -> WorkflowSpec:
    """The definition `run` pinned, to start another run of it (a retry or a fork)."""
    return WorkflowSpec.model_validate(
        {"name": run.workflow, "tasks": run.task_specs, "retry": run.default_retry}
    )


def _succeeded_outputs(run: Run) -> dict[str, dict[str, Any] | None]:
    """The outputs of the tasks that succeeded in `run`, which a new run reuses."""
    return {
        name: state.output
        for name, state in run.tasks.items()
        if state.status is TaskStatus.SUCCEEDED
    }


def _same_request(run: Run, request_hash: str) -> Run:
    if run.request_hash != request_hash:
        raise IdempotencyKeyReusedError(run.id)
    return run
