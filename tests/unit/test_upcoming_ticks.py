"""The scheduler's walk over one schedule's undecided ticks."""

from datetime import timedelta

from aggregates.schedule import ScheduleSpec
from gateways.upcoming_ticks import UpcomingTicks
from tests.schedule_builders import MIDNIGHT

EVERY_MINUTE = ScheduleSpec.model_validate({"cron": "* * * * *"})


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def test_the_next_due_tick_is_the_first_after_where_the_walk_starts() -> None:
    upcoming = UpcomingTicks(EVERY_MINUTE, "default", "nightly", MIDNIGHT)

    assert upcoming.next_due() == MIDNIGHT + minutes(1)


def test_the_ticks_due_by_an_instant_are_listed_oldest_first_up_to_a_limit() -> None:
    upcoming = UpcomingTicks(EVERY_MINUTE, "default", "nightly", MIDNIGHT)

    assert upcoming.until(MIDNIGHT + minutes(3), 10) == [MIDNIGHT + minutes(n) for n in (1, 2, 3)]
    assert upcoming.until(MIDNIGHT + minutes(3), 2) == [MIDNIGHT + minutes(n) for n in (1, 2)]


def test_decided_ticks_are_not_due_again_and_the_walk_goes_on() -> None:
    upcoming = UpcomingTicks(EVERY_MINUTE, "default", "nightly", MIDNIGHT)
    upcoming.until(MIDNIGHT + minutes(2), 10)

    upcoming.decided(MIDNIGHT + minutes(2))

    assert upcoming.after == MIDNIGHT + minutes(2)
    assert upcoming.next_due() == MIDNIGHT + minutes(3)
    assert upcoming.until(MIDNIGHT + minutes(2), 10) == []


def test_a_schedule_that_has_ended_has_no_next_tick() -> None:
    ending = EVERY_MINUTE.model_copy(update={"end": MIDNIGHT + minutes(2)})
    upcoming = UpcomingTicks(ending, "default", "nightly", MIDNIGHT + minutes(1))

    assert upcoming.next_due() is None
    assert upcoming.until(MIDNIGHT + minutes(5), 10) == []
