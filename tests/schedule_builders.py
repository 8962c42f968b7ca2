"""Builders for schedule tests: an engine on a clock the test moves, with a scheduled workflow."""

from datetime import UTC, datetime, timedelta
from typing import Any

from aggregates.names import DEFAULT_TENANT
from aggregates.run import Run
from aggregates.schedule_tick import ScheduleTick
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from engine.due_ticks import DueTicks, TicksDecided
from tests.clocks import MovingClock

MIDNIGHT = datetime(2026, 5, 4, 0, 0, tzinfo=UTC)
"""When the scheduled workflows of these tests are registered."""


def a_scheduled_spec(name: str = "nightly", **schedule: Any) -> WorkflowSpec:
    """A one-task no-op workflow on `schedule` (every minute by default)."""
    return WorkflowSpec.model_validate(
        {
            "name": name,
            "tasks": [{"name": "t", "executor": "noop"}],
            "schedule": {"cron": "* * * * *", **schedule},
        }
    )


def a_scheduled_engine(**schedule: Any) -> tuple[Ledgerflow, MovingClock]:
    """An in-memory engine whose workflow `nightly` is registered at MIDNIGHT on `schedule`."""
    clock = MovingClock(MIDNIGHT)
    engine = Ledgerflow(clock=clock)
    engine.register_workflow(DEFAULT_TENANT, a_scheduled_spec(**schedule), engine.origin("t"))
    return engine, clock


def ticks_due(engine: Ledgerflow, after: datetime, name: str = "nightly") -> list[datetime]:
    """The workflow's ticks after `after` up to the engine's now, as the scheduler finds them."""
    schedule = engine.get_workflow(DEFAULT_TENANT, name).schedule()
    return schedule.ticks_between(after, engine.clock(), 1000)


def fire(
    engine: Ledgerflow, ticks: list[datetime], previous_run: Run | None = None, **due: Any
) -> TicksDecided:
    """Have the engine decide `ticks` of `nightly`, as one scheduler pass would."""
    item = DueTicks(
        DEFAULT_TENANT,
        "nightly",
        tuple(ticks),
        previous_run=None if previous_run is None else previous_run.id,
        **due,
    )
    return engine.fire_ticks([item])[0]


def events_of(engine: Ledgerflow, tick: ScheduleTick | Any) -> list[str]:
    return [type(e).__name__ for e in engine.events.get(tick.id)]


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)
