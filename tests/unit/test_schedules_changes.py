"""What schedule tick events change in the schedules read model: the lateness histogram."""

from datetime import timedelta

import pytest

from projections.schedules.changes import (
    LATENESS_BOUNDS_MS,
    TickDecided,
    changes_for,
    lateness_bucket,
)
from tests.schedule_builders import MIDNIGHT, a_scheduled_engine, fire


def decided(events: list[object]) -> list[TickDecided]:
    return [c for e in events for c in changes_for(e) if isinstance(c, TickDecided)]


@pytest.mark.parametrize(
    ("lateness_ms", "bucket"),
    [(-3, 1), (0, 1), (5, 1), (6, 2), (100, 5), (101, 6), (60000, 13), (60001, 14)],
)
def test_a_fire_falls_in_the_first_bucket_whose_bound_it_does_not_exceed(
    lateness_ms: int, bucket: int
) -> None:
    assert lateness_bucket(lateness_ms) == bucket


def test_the_last_bucket_holds_what_exceeds_every_bound() -> None:
    assert lateness_bucket(10**9) == len(LATENESS_BOUNDS_MS) + 1


def test_a_fire_carries_the_lateness_it_recorded_and_a_miss_none() -> None:
    engine, clock = a_scheduled_engine(misfire="skip")
    clock.move_to(MIDNIGHT + timedelta(minutes=3, milliseconds=40))
    ticks = [MIDNIGHT + timedelta(minutes=n) for n in (1, 2, 3)]

    fire(engine, ticks)

    events = engine.recorder.select_notifications(start=1, limit=100)
    changes = decided([engine.mapper.to_domain_event(n) for n in events])
    assert [(c.missed, c.fired, c.lateness_ms) for c in changes] == [
        (1, 0, None),
        (1, 0, None),
        (0, 1, 40),
    ]
