"""Cron ticks across DST: skipped hours fire after the gap, repeated hours as Vixie cron does."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from aggregates.schedule import ScheduleSpec

SPRING_FORWARD = {"Europe/Berlin": date(2026, 3, 29), "America/New_York": date(2026, 3, 8)}
FALL_BACK = {"Europe/Berlin": date(2026, 10, 25), "America/New_York": date(2026, 11, 1)}
SUMMER = {"Europe/Berlin": "+0200", "America/New_York": "-0400"}
WINTER = {"Europe/Berlin": "+0100", "America/New_York": "-0500"}
ZONES = sorted(SPRING_FORWARD)


def ticks_on(cron: str, zone: str, day: date) -> list[str]:
    """The local times a schedule fires from midnight (exclusive) to 06:00 on `day`."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day, time(6), tz).astimezone(UTC)
    ticks = ScheduleSpec(cron=cron, timezone=zone).ticks_between(start, end, 100)
    return [tick.astimezone(tz).strftime("%H:%M%z") for tick in ticks]


@pytest.mark.parametrize("zone", ZONES)
def test_a_daily_0230_job_in_the_skipped_hour_fires_at_0300(zone: str) -> None:
    ticks = ticks_on("30 2 * * *", zone, SPRING_FORWARD[zone])

    assert ticks == [f"03:00{SUMMER[zone]}"]


@pytest.mark.parametrize("zone", ZONES)
def test_a_daily_0230_job_fires_once_on_fall_back_at_the_first_0230(zone: str) -> None:
    ticks = ticks_on("30 2 * * *", zone, FALL_BACK[zone])

    if zone == "America/New_York":  # New York repeats 01:00-02:00: 02:30 happens once
        assert ticks == [f"02:30{WINTER[zone]}"]
    else:
        assert ticks == [f"02:30{SUMMER[zone]}"]


def test_a_daily_0130_job_in_new_yorks_repeated_hour_fires_once() -> None:
    ticks = ticks_on("30 1 * * *", "America/New_York", FALL_BACK["America/New_York"])

    assert ticks == ["01:30-0400"]


@pytest.mark.parametrize("zone", ZONES)
def test_an_hourly_job_fires_every_real_hour_through_the_repeated_hour(zone: str) -> None:
    ticks = ticks_on("0 * * * *", zone, FALL_BACK[zone])

    repeated = "02" if zone == "Europe/Berlin" else "01"
    assert len(ticks) == 7  # six wall-clock hours, seven real ones
    assert f"{repeated}:00{SUMMER[zone]}" in ticks
    assert f"{repeated}:00{WINTER[zone]}" in ticks


@pytest.mark.parametrize("zone", ZONES)
def test_an_hourly_job_fires_every_real_hour_around_the_skipped_hour(zone: str) -> None:
    ticks = ticks_on("0 * * * *", zone, SPRING_FORWARD[zone])

    assert ticks == [
        f"01:00{WINTER[zone]}",
        f"03:00{SUMMER[zone]}",
        f"04:00{SUMMER[zone]}",
        f"05:00{SUMMER[zone]}",
        f"06:00{SUMMER[zone]}",
    ]


def test_ticks_are_keyed_by_distinct_utc_instants_on_fall_back() -> None:
    spec = ScheduleSpec(cron="*/30 * * * *", timezone="Europe/Berlin")
    start = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)

    ticks = spec.ticks_between(start, datetime(2026, 10, 25, 3, 0, tzinfo=UTC), 100)

    assert ticks == sorted(set(ticks))
    assert len(ticks) == 8  # every real half hour of four real hours
