"""What each event changes in the schedules read model, as plain values (no I/O)."""

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.names import workflow_id
from aggregates.run import Run
from aggregates.schedule_tick import ScheduleTick
from aggregates.workflow import Workflow


@dataclass(frozen=True)
class ScheduleSet:
    """A workflow version was recorded (registered, revised, restored), with or without a
    schedule; a changed schedule (or a restore) takes effect from `at`."""

    workflow_id: UUID
    tenant: str
    workflow: str
    version: int
    schedule: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True)
class ScheduleStopped:
    """The workflow was retired: its schedule fires no more."""

    workflow_id: UUID


@dataclass(frozen=True)
class SchedulePaused:
    """Paused (`paused`) or resumed at `at` (ticks after it fire again)."""

    workflow_id: UUID
    paused: bool
    at: datetime


LATENESS_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
"""Upper bounds of the fire-lateness histogram's buckets; a last bucket holds the rest."""


def lateness_bucket(lateness_ms: int) -> int:
    """The 1-based bucket (a PostgreSQL array index) a fire's lateness falls in."""
    return 1 + sum(1 for bound in LATENESS_BOUNDS_MS if lateness_ms > bound)


@dataclass(frozen=True)
class TickDecided:
    """Ticks up to `tick` are decided; `run_id` started (a fire or a release), `buffered`
    waits, `released` no longer does; the counts add to the totals, and a fire's recorded
    `lateness_ms` to the lateness histogram."""

    workflow_id: UUID
    tick: datetime
    run_id: UUID | None = None
    buffered: bool = False
    released: bool = False
    fired: int = 0
    skipped: int = 0
    missed: int = 0
    lateness_ms: int | None = None


@dataclass(frozen=True)
class RunEnded:
    """A run ended: if it is a schedule's last run, that schedule has no active run."""

    run_id: UUID


Change = ScheduleSet | ScheduleStopped | SchedulePaused | TickDecided | RunEnded


@singledispatch
def changes_for(event: object) -> tuple[Change, ...]:
    """The changes one event makes; () for an event the schedules do not follow."""
    return ()


def _set(event: Any, version: int) -> tuple[Change, ...]:
    spec: dict[str, Any] = event.spec
    return (
        ScheduleSet(
            event.originator_id, event.tenant, spec["name"], version, spec.get("schedule"),
            event.timestamp,
        ),
    )  # fmt: skip


@changes_for.register
def _registered(event: Workflow.Registered) -> tuple[Change, ...]:
    return _set(event, 1)


@changes_for.register
def _revised(event: Workflow.Revised) -> tuple[Change, ...]:
    return _set(event, event.version)


@changes_for.register
def _restored(event: Workflow.Restored) -> tuple[Change, ...]:
    return _set(event, event.version)


@changes_for.register
def _retired(event: Workflow.Retired) -> tuple[Change, ...]:
    return (ScheduleStopped(event.originator_id),)


@changes_for.register
def _paused(event: Workflow.SchedulePaused) -> tuple[Change, ...]:
    return (SchedulePaused(event.originator_id, paused=True, at=event.timestamp),)


@changes_for.register
def _resumed(event: Workflow.ScheduleResumed) -> tuple[Change, ...]:
    return (SchedulePaused(event.originator_id, paused=False, at=event.timestamp),)


def _of(event: Any) -> UUID:
    return workflow_id(event.tenant, event.workflow)


@changes_for.register
def _fired(event: ScheduleTick.ScheduleFired) -> tuple[Change, ...]:
    if event.trigger != "schedule":
        return ()  # a backfill leaves the schedule's own ticks alone
    return (
        TickDecided(
            _of(event), event.scheduled_for, UUID(event.run_id), fired=1,
            lateness_ms=event.lateness_ms,
        ),
    )  # fmt: skip


@changes_for.register
def _skipped(event: ScheduleTick.ScheduleTickSkipped) -> tuple[Change, ...]:
    return (TickDecided(_of(event), event.scheduled_for, skipped=1),)


@changes_for.register
def _missed(event: ScheduleTick.ScheduleTicksMissed) -> tuple[Change, ...]:
    return (TickDecided(_of(event), event.last, missed=event.count),)


@changes_for.register
def _buffered(event: ScheduleTick.ScheduleTickBuffered) -> tuple[Change, ...]:
    return (TickDecided(_of(event), event.scheduled_for, buffered=True),)


@changes_for.register
def _released(event: ScheduleTick.ScheduleTickReleased) -> tuple[Change, ...]:
    run_id = UUID(event.run_id)
    return (
        TickDecided(
            _of(event), event.scheduled_for, run_id, released=True, fired=1,
            lateness_ms=event.lateness_ms,
        ),
    )  # fmt: skip


@changes_for.register
def _run_succeeded(event: Run.Succeeded) -> tuple[Change, ...]:
    return (RunEnded(event.originator_id),)


@changes_for.register
def _run_failed(event: Run.Failed) -> tuple[Change, ...]:
    return (RunEnded(event.originator_id),)


@changes_for.register
def _run_cancelled(event: Run.Cancelled) -> tuple[Change, ...]:
    return (RunEnded(event.originator_id),)


PROJECTED_TOPICS = frozenset(get_topic(kind) for kind in changes_for.registry if kind is not object)
"""The events that change the read model; every other event only advances its position."""
