"""Schedules over HTTP: part of the workflow body, read with next fire times, paused, backfilled."""

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.test_http_builders import a_client, a_spec, an_engine, locs, problem, recorded

BERLIN_NIGHTLY = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}


def a_scheduled_spec(**schedule: Any) -> dict[str, Any]:
    return a_spec(schedule={**BERLIN_NIGHTLY, **schedule})


def test_a_workflow_is_registered_with_its_schedule_and_shows_it() -> None:
    with a_client() as client:
        client.post("/v1/workflows", json=a_scheduled_spec())

        shown = client.get("/v1/workflows/etl").json()

        assert shown["schedule"]["cron"] == "30 2 * * *"
        assert shown["schedule"]["misfire"] == "fire_once"


def test_the_schedule_lists_its_next_fire_times_in_its_time_zone() -> None:
    engine = an_engine()
    engine.clock = lambda: datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    with a_client(engine) as client:
        client.post("/v1/workflows", json=a_scheduled_spec())

        body = client.get("/v1/workflows/etl/schedule?count=3").json()

        assert body["paused"] is False
        assert body["next_fire_times"] == [
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night
            "2026-03-30T02:30:00+02:00",
        ]


def test_pausing_and_resuming_a_schedule_shows_in_its_state() -> None:
    with a_client() as client:
        client.post("/v1/workflows", json=a_scheduled_spec())

        paused = client.post("/v1/workflows/etl/schedule/pause?reason=maintenance")
        resumed = client.post("/v1/workflows/etl/schedule/resume")

        assert (paused.status_code, paused.json()["paused"]) == (200, True)
        assert (resumed.status_code, resumed.json()["paused"]) == (200, False)


def test_a_workflow_without_a_schedule_has_none_to_read_or_pause() -> None:
    with a_client() as client:
        client.post("/v1/workflows", json=a_spec())

        problem(client.get("/v1/workflows/etl/schedule"), 404)
        problem(client.post("/v1/workflows/etl/schedule/pause"), 404)


def test_a_backfill_creates_one_run_per_tick_and_a_repeat_creates_none() -> None:
    with a_client() as client:
        client.post("/v1/workflows", json=a_scheduled_spec(cron="0 * * * *", timezone="UTC"))
        body = {"start": "2026-05-01T00:00:00Z", "end": "2026-05-01T06:00:00Z"}

        first = client.post("/v1/workflows/etl/backfill", json=body)
        second = client.post("/v1/workflows/etl/backfill", json=body)

        assert first.json() == {"created": 6, "existing": 0}
        assert second.json() == {"created": 0, "existing": 6}


@pytest.mark.parametrize(
    ("schedule", "loc"),
    [
        ({"cron": "61 * * * *"}, "schedule.cron"),
        ({"cron": "* * *"}, "schedule.cron"),
        ({"cron": ""}, "schedule.cron"),
        ({"cron": "* " * 5000}, "schedule.cron"),
        ({"cron": "0 0 30 2 *"}, "schedule.cron"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "schedule.timezone"),
        ({"cron": "* * * * *", "jitter_seconds": -1}, "schedule.jitter_seconds"),
        ({"cron": "* * * * *", "misfire": "sometimes"}, "schedule.misfire"),
        ({"cron": "* * * * *", "overlap": "maybe"}, "schedule.overlap"),
        ({"cron": "* * * * *", "every": "day"}, "schedule.every"),
        ({"cron": "* * * * *", "start": "2026-05-01T00:00:00"}, "schedule.start"),
        ({"cron": "* * * * *", "start": 0}, "schedule.start"),
        ({"cron": "* * * * *", "end": 1767225600}, "schedule.end"),
        (
            {"cron": "* * * * *", "start": "2026-05-02T00:00:00Z", "end": "2026-05-01T00:00:00Z"},
            "schedule",
        ),
    ],
)
def test_a_bad_schedule_is_a_422_naming_its_field(schedule: dict[str, Any], loc: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        before = recorded(engine)

        response = client.post("/v1/workflows", json=a_spec(schedule=schedule))

        assert loc in locs(problem(response, 422))
        assert recorded(engine) == before


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"start": "2026-05-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}, "end"),
        ({"start": "2026-05-02T00:00:00Z", "end": "2026-05-01T00:00:00Z"}, "end"),
        ({"start": "2026-05-01T00:00:00", "end": "2026-05-02T00:00:00Z"}, "start"),
        ({"start": "2026-05-01T00:00:00Z", "end": "2026-05-02T00:00:00Z", "x": 1}, "x"),
        ({"start": "2026-05-01T00:00:00Z"}, "end"),
    ],
)
def test_a_bad_backfill_range_is_a_422_naming_its_field(body: dict[str, Any], loc: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        client.post("/v1/workflows", json=a_scheduled_spec(cron="* * * * *", timezone="UTC"))
        before = recorded(engine)

        response = client.post("/v1/workflows/etl/backfill", json=body)

        assert loc in locs(problem(response, 422))
        assert recorded(engine) == before


@pytest.mark.parametrize("count", ["0", "101", "x", "-1"])
def test_a_count_out_of_range_is_a_422(count: str) -> None:
    with a_client() as client:
        client.post("/v1/workflows", json=a_scheduled_spec())

        response = client.get(f"/v1/workflows/etl/schedule?count={count}")

        assert "count" in locs(problem(response, 422))
