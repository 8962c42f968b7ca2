"""The schedule use cases: fire due cron ticks once, release buffered ticks, pause, backfill."""

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from aggregates.errors import DomainError, InvalidBackfillError, Problem
from aggregates.names import schedule_tick_id, scheduled_run_id, workflow_id
from aggregates.provenance import Origin
from aggregates.run import Run
from aggregates.schedule import MAX_BACKFILL_TICKS, ScheduleSpec
from aggregates.schedule_plan import Decision, due_at, plan_ticks
from aggregates.schedule_tick import ScheduleTick
from aggregates.workflow import Workflow
from engine.due_ticks import BatchedEventLog, DueTicks, PreparedTicks, TicksDecided

if TYPE_CHECKING:
    from aggregates.spec import WorkflowSpec

SCHEDULER_ACTOR = "engine:scheduler"
BACKFILL_CHUNK = 100
_MS = timedelta(milliseconds=1)


@dataclass
class _Batch:
    """The aggregates one schedule's decisions change, saved together."""

    outcome: TicksDecided
    groups: list[list[Aggregate]] = field(default_factory=list)


class Scheduling(Application[UUID]):
    """The Ledgerflow Application's schedule use cases (a mixin of `Ledgerflow`)."""

    clock: Callable[[], datetime]

    if TYPE_CHECKING:

        def get_workflow(self, tenant: str, name: str) -> Workflow: ...

        def load_run(self, run_id: UUID) -> Run | None: ...

    def fire_ticks(self, due: Sequence[DueTicks]) -> list[TicksDecided]:
        """Decide every due tick by its schedule's policies, in one transaction if possible."""
        return self.fire_prepared(self.prepare_ticks(due))

    def prepare_ticks(self, due: Sequence[DueTicks]) -> PreparedTicks:
        """Load the workflows of `due`'s schedules (one read where the store can), so that
        `fire_prepared` at the ticks' instant has only to decide and commit.

        What is loaded is the workflows as they are now: a revision or a pause recorded
        between this and the fire applies from the next tick (the scheduler prepares a few
        milliseconds ahead).
        """
        workflows = self._load_workflows({(item.tenant, item.workflow) for item in due})
        return PreparedTicks(
            tuple(due), {key: (workflow, workflow.spec()) for key, workflow in workflows.items()}
        )

    def fire_prepared(self, prepared: PreparedTicks) -> list[TicksDecided]:
        """Decide every prepared tick now, by its schedule's policies, in one transaction if
        possible.

        A collision (another replica fired a tick first) falls back to one save per tick, so
        the ticks nobody decided yet still fire; collided ticks change nothing.
        """
        now = self.clock()
        batches = [
            self._plan(item, now, prepared.workflows.get((item.tenant, item.workflow)))
            for item in prepared.due
        ]
        saved = iter(self._save_groups([group for batch in batches for group in batch.groups]))
        for batch in batches:
            flags = [next(saved) for _ in batch.groups]  # consumed per batch, in order
            batch.outcome.collided = not all(flags)
        return [batch.outcome for batch in batches]

    def release_buffered(self, tenant: str, workflow: str, tick: datetime) -> UUID | None:
        """Fire a buffered tick whose awaited run has ended; None if nothing was fired."""
        try:
            buffered: ScheduleTick = self.repository.get(schedule_tick_id(tenant, workflow, tick))
            target = self.get_workflow(tenant, workflow)
        except (AggregateNotFoundError, DomainError):
            return None
        if not buffered.is_buffered or not _schedulable(target):
            return None
        awaited = None if buffered.awaited_run is None else self.load_run(buffered.awaited_run)
        if awaited is not None and not awaited.status.is_terminal:
            return None
        origin = Origin(SCHEDULER_ACTOR, f"schedule:{workflow}", self.clock())
        run = self._scheduled_run(target, buffered.id, tick, origin)
        lateness = (origin.at - due_at(target.schedule(), tenant, workflow, tick)) // _MS
        buffered.release(target.current_version, run.id, lateness, origin)
        try:
            self.save(buffered, run)
        except IntegrityError:
            return None
        return run.id

    def pause_schedule(self, tenant: str, name: str, reason: str | None, origin: Origin) -> bool:
        """Stop firing the workflow's ticks; False if it was paused already."""
        return self._change_schedule(tenant, name, lambda w: w.pause_schedule(reason, origin))

    def resume_schedule(self, tenant: str, name: str, origin: Origin) -> bool:
        """Fire the workflow's ticks again from the next one; False if it was not paused."""
        return self._change_schedule(tenant, name, lambda w: w.resume_schedule(origin))

    def backfill(
        self, tenant: str, name: str, start: datetime, end: datetime, origin: Origin
    ) -> tuple[int, int]:
        """One run per tick in [start, end), each keyed by its tick; returns (created, existing).

        A repeated backfill creates nothing new. More than `MAX_BACKFILL_TICKS` ticks, or an
        empty range, is an `InvalidBackfillError`; a retired workflow starts nothing.
        """
        workflow = self.get_workflow(tenant, name)
        workflow.spec_to_run()
        ticks = backfill_ticks(workflow.schedule(), start, end)
        fresh = [
            t for t in ticks if not self._exists(schedule_tick_id(tenant, name, t, backfill=True))
        ]
        created = 0
        for index in range(0, len(fresh), BACKFILL_CHUNK):
            groups = [
                self._backfilled(workflow, t, origin) for t in fresh[index : index + BACKFILL_CHUNK]
            ]
            created += sum(self._save_groups(groups))
        return created, len(ticks) - created

    def _load_workflows(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Workflow]:
        """The workflows named by (tenant, name) that exist, read in one query when the
        store can (PostgreSQL), else one by one (the in-memory store)."""
        log = self.recorder
        if not isinstance(log, BatchedEventLog):
            found: dict[tuple[str, str], Workflow] = {}
            for tenant, name in keys:
                try:
                    found[tenant, name] = self.get_workflow(tenant, name)
                except DomainError:
                    continue  # gone (or never there): nothing to fire
            return found
        named = {workflow_id(tenant, name): (tenant, name) for tenant, name in keys}
        events: defaultdict[UUID, list[Any]] = defaultdict(list)
        for stored in log.select_events_of(list(named)):
            key = stored.originator_id
            events[key if isinstance(key, UUID) else UUID(key)].append(
                self.mapper.to_domain_event(stored)
            )
        loaded: dict[tuple[str, str], Workflow] = {}
        for aggregate_id, history in events.items():
            workflow = None
            for domain_event in history:
                workflow = domain_event.mutate(workflow)
            if isinstance(workflow, Workflow):
                loaded[named[aggregate_id]] = workflow
        return loaded

    def _plan(
        self, due: DueTicks, now: datetime, loaded: "tuple[Workflow, WorkflowSpec] | None"
    ) -> _Batch:
        batch = _Batch(TicksDecided(due))
        if loaded is None:
            return batch
        workflow, spec = loaded
        schedule = spec.schedule
        if schedule is None or workflow.is_retired or workflow.schedule_paused:
            return batch
        watched = due.previous_run if schedule.overlap != "allow" else None
        active = None if watched is None else self.load_run(watched)
        if active is not None and active.status.is_terminal:
            active = None
        origin = Origin(SCHEDULER_ACTOR, f"schedule:{due.workflow}", now)
        decisions = plan_ticks(
            schedule, due.tenant, due.workflow, list(due.ticks), now,
            active=active is not None, buffered=due.buffered, superseded=due.more,
        )  # fmt: skip
        batch.outcome.decisions = decisions
        for decision in decisions:
            if decision.kind == "miss":
                # A group per missed tick: a tick another replica decided (this one's view of
                # the log was older) collides alone, and the others are still recorded.
                missed = ScheduleTick.missed(
                    due.tenant, due.workflow, list(decision.ticks), decision.reason, origin
                )
                batch.groups += [[tick] for tick in missed]
                continue
            group, run = self._decided(workflow, spec, decision, active, origin)
            if run is not None:
                active = run
                batch.outcome.fired.append(run.id)
            batch.groups.append(group)
        return batch

    def _decided(
        self,
        workflow: Workflow,
        spec: "WorkflowSpec",
        decision: Decision,
        active: Run | None,
        origin: Origin,
    ) -> tuple[list[Aggregate], Run | None]:
        tenant, name, tick = workflow.tenant, workflow.name, decision.tick
        schedule = spec.schedule
        assert schedule is not None  # `_plan` decides scheduled workflows only
        active_id = None if active is None else active.id
        if decision.kind == "skip":
            return [
                ScheduleTick.skipped(
                    tenant, name, tick, decision.reason, active_run=active_id, origin=origin
                )
            ], None
        if decision.kind == "buffer" and active_id is not None:
            return [ScheduleTick.buffered(tenant, name, tick, active_id, origin)], None
        group: list[Aggregate] = []
        cancelled = None
        if decision.cancel_active and active is not None and not active.status.is_terminal:
            active.cancel(f"cancelled by the schedule's tick {tick.isoformat()}", origin)
            group.append(active)
            cancelled = active.id
        tick_id = schedule_tick_id(tenant, name, tick)
        run = self._scheduled_run(workflow, tick_id, tick, origin, spec=spec)
        jitter = schedule.delay(tenant, name, tick)
        fired = ScheduleTick.fired(
            tenant, name, tick, workflow_version=workflow.current_version, run_id=run.id,
            backfill=False, lateness_ms=(origin.at - tick - jitter) // _MS,
            jitter_ms=jitter // _MS, cancelled_run=cancelled, origin=origin,
        )  # fmt: skip
        return [fired, run, *group], run

    def _backfilled(self, workflow: Workflow, tick: datetime, origin: Origin) -> list[Aggregate]:
        tick_id = schedule_tick_id(workflow.tenant, workflow.name, tick, backfill=True)
        run = self._scheduled_run(workflow, tick_id, tick, origin, trigger="backfill")
        fired = ScheduleTick.fired(
            workflow.tenant, workflow.name, tick, workflow_version=workflow.current_version,
            run_id=run.id, backfill=True, lateness_ms=(origin.at - tick) // _MS, jitter_ms=0,
            cancelled_run=None, origin=origin,
        )  # fmt: skip
        return [fired, run]

    def _scheduled_run(
        self, workflow: Workflow, tick_id: UUID, tick: datetime, origin: Origin, *,
        trigger: str = "schedule", spec: "WorkflowSpec | None" = None,
    ) -> Run:  # fmt: skip
        spec = spec or workflow.spec()
        return Run.start(
            run_id=scheduled_run_id(tick_id), tenant=workflow.tenant, spec=spec,
            workflow_version=workflow.current_version, inputs={},
            request_hash=f"{trigger}:{tick.isoformat()}", trigger=trigger, origin=origin,
            scheduled_for=tick,
        )  # fmt: skip

    def _save_groups(self, groups: list[list[Aggregate]]) -> list[bool]:
        """Save every group's new events in one transaction; on a collision (a tick decided
        elsewhere), each group in its own. Returns which groups were saved."""
        pending = [
            [e for aggregate in group for e in aggregate.collect_events()] for group in groups
        ]
        try:
            self._store([event for events in pending for event in events])
        except IntegrityError:
            return [self._saved(events) for events in pending]
        return [True] * len(groups)

    def _saved(self, events: list[Any]) -> bool:
        try:
            self._store(events)
        except IntegrityError:
            return False
        return True

    def _store(self, events: list[Any]) -> None:
        """`save` minus its runtime-Protocol check of each object (~30 µs each: 9 ms for the
        300 events of a hundred ticks), which tells events from aggregates: these are all
        new events of our aggregates, and nothing here snapshots or hears of saves."""
        self.events.put(events)

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def _change_schedule(self, tenant: str, name: str, change: Callable[[Workflow], bool]) -> bool:
        for _ in range(5):
            workflow = self.get_workflow(tenant, name)
            if not change(workflow):
                return False
            try:
                self.save(workflow)
            except IntegrityError:
                continue  # revised concurrently: decide again on the latest version
            return True
        msg = f"workflow {name} kept changing while its schedule was being changed"
        raise RuntimeError(msg)


def backfill_ticks(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    """The ticks in [start, end), ignoring the schedule's own window; at most the limit."""
    if end <= start:
        raise InvalidBackfillError([Problem("end", "must be later than start")])
    unbounded = schedule.model_copy(update={"start": None, "end": None})
    ticks: list[datetime] = []
    for tick in unbounded.ticks_after(start - timedelta(microseconds=1)):
        if tick >= end:
            break
        if len(ticks) == MAX_BACKFILL_TICKS:
            msg = f"the range holds more than {MAX_BACKFILL_TICKS} ticks (the backfill limit)"
            raise InvalidBackfillError([Problem("end", msg)])
        ticks.append(tick)
    return ticks


def _schedulable(workflow: Workflow) -> bool:
    return (
        not workflow.is_retired
        and not workflow.schedule_paused
        and workflow.spec().schedule is not None
    )
