"""Overlap policies: what a tick does while the schedule's previous run is still active."""

from aggregates.names import DEFAULT_TENANT, schedule_tick_id
from aggregates.run import Run, RunStatus
from aggregates.schedule_tick import ScheduleTick
from engine.application import Ledgerflow
from tests.clocks import MovingClock
from tests.schedule_builders import MIDNIGHT, a_scheduled_engine, fire, minutes


def an_active_run(**schedule: str) -> tuple[Ledgerflow, MovingClock, Run]:
    """The 00:01 tick fired; its run stays queued (no worker), so it is active at 00:02."""
    engine, clock = a_scheduled_engine(**schedule)
    clock.move_to(MIDNIGHT + minutes(1))
    first = fire(engine, [MIDNIGHT + minutes(1)])
    clock.move_to(MIDNIGHT + minutes(2))
    return engine, clock, engine.get_run(DEFAULT_TENANT, first.fired[0])


def tick_at(engine: Ledgerflow, minute: int) -> ScheduleTick:
    tick: ScheduleTick = engine.repository.get(
        schedule_tick_id(DEFAULT_TENANT, "nightly", MIDNIGHT + minutes(minute))
    )
    return tick


def test_allow_starts_a_run_beside_the_active_one() -> None:
    engine, _, active = an_active_run(overlap="allow")

    decided = fire(engine, [MIDNIGHT + minutes(2)], previous_run=active)

    assert len(decided.fired) == 1
    assert engine.get_run(DEFAULT_TENANT, active.id).status is RunStatus.QUEUED


def test_skip_records_the_tick_as_skipped_and_starts_no_run() -> None:
    engine, _, active = an_active_run(overlap="skip")

    decided = fire(engine, [MIDNIGHT + minutes(2)], previous_run=active)

    assert decided.fired == []
    assert tick_at(engine, 2).outcome == "skipped"


def test_skip_fires_once_the_previous_run_has_ended() -> None:
    engine, _, active = an_active_run(overlap="skip")
    engine.cancel_run(DEFAULT_TENANT, active.id, "done", engine.origin("t"))

    decided = fire(engine, [MIDNIGHT + minutes(2)], previous_run=active)

    assert len(decided.fired) == 1


def test_buffer_one_keeps_one_tick_and_fires_it_when_the_active_run_ends() -> None:
    engine, clock, active = an_active_run(overlap="buffer_one")
    fire(engine, [MIDNIGHT + minutes(2)], previous_run=active)
    clock.move_to(MIDNIGHT + minutes(3))
    third = fire(engine, [MIDNIGHT + minutes(3)], previous_run=active, buffered=True)
    engine.cancel_run(DEFAULT_TENANT, active.id, "done", engine.origin("t"))

    released = engine.release_buffered(DEFAULT_TENANT, "nightly", MIDNIGHT + minutes(2))

    assert [d.kind for d in third.decisions] == ["skip"]
    assert released is not None
    assert engine.get_run(DEFAULT_TENANT, released).scheduled_for == MIDNIGHT + minutes(2)
    assert tick_at(engine, 2).outcome == "fired"


def test_a_buffered_tick_waits_while_the_active_run_goes_on() -> None:
    engine, _, active = an_active_run(overlap="buffer_one")
    fire(engine, [MIDNIGHT + minutes(2)], previous_run=active)

    released = engine.release_buffered(DEFAULT_TENANT, "nightly", MIDNIGHT + minutes(2))

    assert released is None
    assert tick_at(engine, 2).outcome == "buffered"


def test_cancel_previous_cancels_the_active_run_then_starts_one() -> None:
    engine, _, active = an_active_run(overlap="cancel_previous")

    decided = fire(engine, [MIDNIGHT + minutes(2)], previous_run=active)

    assert len(decided.fired) == 1
    assert engine.get_run(DEFAULT_TENANT, active.id).status is RunStatus.CANCELLED
    fired = next(iter(engine.events.get(tick_at(engine, 2).id)))
    assert isinstance(fired, ScheduleTick.ScheduleFired)
    assert fired.cancelled_run == str(active.id)
