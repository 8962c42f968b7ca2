"""Misfire policies: what a scheduler that was down for several ticks fires when it is back."""

from aggregates.names import DEFAULT_TENANT, schedule_tick_id
from aggregates.schedule_tick import ScheduleTick
from tests.schedule_builders import MIDNIGHT, a_scheduled_engine, fire, minutes, ticks_due

DOWN_TICKS = 5


def test_a_due_tick_starts_a_run_triggered_by_the_schedule_that_carries_its_tick() -> None:
    engine, clock = a_scheduled_engine()
    clock.move_to(MIDNIGHT + minutes(1))

    decided = fire(engine, ticks_due(engine, MIDNIGHT))

    run = engine.get_run(DEFAULT_TENANT, decided.fired[0])
    assert (run.trigger, run.scheduled_for) == ("schedule", MIDNIGHT + minutes(1))
    tick: ScheduleTick = engine.repository.get(
        schedule_tick_id(DEFAULT_TENANT, "nightly", MIDNIGHT + minutes(1))
    )
    assert (tick.outcome, tick.run_id) == ("fired", run.id)


def test_a_second_fire_of_the_same_tick_collides_and_starts_nothing() -> None:
    engine, clock = a_scheduled_engine()
    clock.move_to(MIDNIGHT + minutes(1))
    fire(engine, ticks_due(engine, MIDNIGHT))

    again = fire(engine, ticks_due(engine, MIDNIGHT))

    assert again.collided


def test_skip_fires_nothing_missed_and_records_the_missed_ticks() -> None:
    engine, clock = a_scheduled_engine(misfire="skip")
    clock.move_to(MIDNIGHT + minutes(DOWN_TICKS) + minutes(1) / 2)

    decided = fire(engine, ticks_due(engine, MIDNIGHT))

    assert decided.fired == []
    for n in range(1, DOWN_TICKS + 1):  # each tick its own record, keyed by it
        tick = MIDNIGHT + minutes(n)
        (event,) = engine.events.get(schedule_tick_id(DEFAULT_TENANT, "nightly", tick))
        assert isinstance(event, ScheduleTick.ScheduleTicksMissed)
        assert (event.scheduled_for, event.last, event.count) == (tick, tick, 1)


def test_a_tick_one_scheduler_recorded_as_missed_cannot_be_fired_by_another() -> None:
    engine, clock = a_scheduled_engine(misfire="fire_once")
    clock.move_to(MIDNIGHT + minutes(DOWN_TICKS) + minutes(1) / 2)
    fire(engine, ticks_due(engine, MIDNIGHT))  # one scheduler: ticks 1-4 missed, 5 fired

    # Another, its view of the log older, takes tick 2 for the latest undecided one.
    late = fire(engine, [MIDNIGHT + minutes(2)])

    assert late.collided
    tick_2 = schedule_tick_id(DEFAULT_TENANT, "nightly", MIDNIGHT + minutes(2))
    assert [type(e).__name__ for e in engine.events.get(tick_2)] == ["ScheduleTicksMissed"]
    assert all(engine.load_run(run_id) is None for run_id in late.fired)  # nothing started


def test_a_range_of_missed_ticks_starting_later_collides_with_one_decided_before() -> None:
    engine, clock = a_scheduled_engine(misfire="skip")
    clock.move_to(MIDNIGHT + minutes(DOWN_TICKS) + minutes(1) / 2)
    due = ticks_due(engine, MIDNIGHT)
    fire(engine, due)

    again = fire(engine, due[2:])  # a scheduler whose view of the log began two ticks later

    assert again.collided


def test_missed_ticks_are_recorded_even_when_a_stale_view_includes_a_tick_decided_before() -> None:
    engine, clock = a_scheduled_engine(misfire="fire_once")
    clock.move_to(MIDNIGHT + minutes(1))
    fire(engine, ticks_due(engine, MIDNIGHT))  # tick 1 fired on time
    clock.move_to(MIDNIGHT + minutes(DOWN_TICKS) + minutes(1) / 2)

    # A scheduler back from an outage whose read model had not yet seen tick 1's fire.
    decided = fire(engine, ticks_due(engine, MIDNIGHT))

    assert decided.collided  # tick 1, and tick 1 only
    for n in range(2, DOWN_TICKS):
        tick = MIDNIGHT + minutes(n)
        (event,) = engine.events.get(schedule_tick_id(DEFAULT_TENANT, "nightly", tick))
        assert isinstance(event, ScheduleTick.ScheduleTicksMissed), n
    assert engine.get_run(DEFAULT_TENANT, decided.fired[0]).scheduled_for == MIDNIGHT + minutes(
        DOWN_TICKS
    )
    tick_1 = schedule_tick_id(DEFAULT_TENANT, "nightly", MIDNIGHT + minutes(1))
    assert [type(e).__name__ for e in engine.events.get(tick_1)] == ["ScheduleFired"]


def test_fire_once_starts_one_run_for_the_latest_missed_tick() -> None:
    engine, clock = a_scheduled_engine(misfire="fire_once")
    clock.move_to(MIDNIGHT + minutes(DOWN_TICKS) + minutes(1) / 2)

    decided = fire(engine, ticks_due(engine, MIDNIGHT))

    assert len(decided.fired) == 1
    run = engine.get_run(DEFAULT_TENANT, decided.fired[0])
    assert run.scheduled_for == MIDNIGHT + minutes(DOWN_TICKS)
    assert [d.kind for d in decided.decisions] == ["miss", "fire"]
    assert len(decided.decisions[0].ticks) == DOWN_TICKS - 1


def test_catch_up_fires_every_missed_tick_oldest_first() -> None:
    engine, clock = a_scheduled_engine(misfire="catch_up")
    clock.move_to(MIDNIGHT + minutes(DOWN_TICKS) + minutes(1) / 2)

    decided = fire(engine, ticks_due(engine, MIDNIGHT))

    runs = [engine.get_run(DEFAULT_TENANT, run_id) for run_id in decided.fired]
    assert [run.scheduled_for for run in runs] == [
        MIDNIGHT + minutes(n) for n in range(1, DOWN_TICKS + 1)
    ]


def test_catch_up_fires_at_most_the_latest_hundred_missed_ticks() -> None:
    engine, clock = a_scheduled_engine(misfire="catch_up")
    clock.move_to(MIDNIGHT + minutes(150) + minutes(1) / 2)

    decided = fire(engine, ticks_due(engine, MIDNIGHT))

    assert len(decided.fired) == 100
    assert decided.decisions[0].kind == "miss"
    assert len(decided.decisions[0].ticks) == 50


def test_a_tick_a_moment_late_is_not_missed_whatever_the_policy() -> None:
    engine, clock = a_scheduled_engine(misfire="skip")
    clock.move_to(MIDNIGHT + minutes(1) + minutes(1) / 120)

    decided = fire(engine, ticks_due(engine, MIDNIGHT))

    assert len(decided.fired) == 1
