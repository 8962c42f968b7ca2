"""Point-in-time reads over HTTP: a run or workflow rebuilt from its events up to a version or
an instant; a point outside its history is a 422 naming the parameter."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from aggregates.run import TaskReport
from engine.application import Ledgerflow
from tests.unit.test_http_builders import (
    PositionedPOPOFactory,
    a_client,
    a_registered_workflow,
    a_spec,
    a_started_run,
    locs,
    problem,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class SteppingClock:
    """A clock that moves one minute each time it is read, from T0."""

    def __init__(self) -> None:
        self.now = T0 - timedelta(minutes=1)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def an_engine_with_a_clock() -> Ledgerflow:
    return Ledgerflow(
        env={
            "PERSISTENCE_MODULE": f"tests.unit.test_http_builders:{PositionedPOPOFactory.__name__}"
        },
        clock=SteppingClock(),
    )


def a_run_whose_extract_succeeded(engine: Ledgerflow, client: Any) -> str:
    """RunStarted, TaskQueued(extract), TaskStarted, TaskSucceeded, TaskQueued(transform)."""
    a_registered_workflow(client, "etl")
    run = a_started_run(client, "etl")
    reports = [
        TaskReport(UUID(run["id"]), "default", "extract", 1, 1, "w1", "started"),
        TaskReport(UUID(run["id"]), "default", "extract", 1, 1, "w1", "succeeded", output={"n": 1}),
    ]
    engine.record_reports(reports[:1])
    engine.record_reports(reports[1:])
    return str(run["id"])


@pytest.fixture
def engine() -> Ledgerflow:
    return an_engine_with_a_clock()


def test_as_of_version_rebuilds_the_run_from_its_first_n_events(engine: Ledgerflow) -> None:
    with a_client(engine) as client:
        run_id = a_run_whose_extract_succeeded(engine, client)

        then = client.get(f"/v1/runs/{run_id}", params={"as_of_version": 3}).json()
        now = client.get(f"/v1/runs/{run_id}").json()

        assert then["version"] == 3
        assert [(t["name"], t["status"], t["attempt"]) for t in then["tasks"]] == [
            ("extract", "running", 1),
            ("transform", "pending", 0),
            ("load", "pending", 0),
        ]
        assert now["version"] == 5
        assert now["tasks"][0]["output"] == {"n": 1}


def test_as_of_an_instant_rebuilds_the_run_from_the_events_recorded_until_then(
    engine: Ledgerflow,
) -> None:
    with a_client(engine) as client:
        run_id = a_run_whose_extract_succeeded(engine, client)
        events = client.get(f"/v1/runs/{run_id}/events").json()["items"]
        started_at = events[2]["timestamp"]

        then = client.get(f"/v1/runs/{run_id}", params={"as_of": started_at}).json()

        assert then["version"] == 3
        assert then["tasks"][0]["status"] == "running"


def test_the_workflow_as_of_an_instant_shows_the_definition_current_then(
    engine: Ledgerflow,
) -> None:
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")  # version 1 at T0
        client.put("/v1/workflows/etl", json=a_spec("etl", description="v2"))  # at T0 + 1 min

        then = client.get("/v1/workflows/etl", params={"as_of": "2026-05-01T12:00:30Z"}).json()

        assert (then["version"], then["current_version"], then["description"]) == (1, 1, "")


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"as_of_version": 6}, "as_of_version"),
        ({"as_of_version": 0}, "as_of_version"),
        ({"as_of_version": "x"}, "as_of_version"),
        ({"as_of": "2026-04-30T00:00:00Z"}, "as_of"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "2026-05-01T12:00:00Z", "as_of_version": 1}, "as_of"),
    ],
)
def test_a_point_outside_the_runs_history_is_a_422_naming_the_parameter(
    engine: Ledgerflow, params: dict[str, Any], loc: str
) -> None:
    with a_client(engine) as client:
        run_id = a_run_whose_extract_succeeded(engine, client)

        response = client.get(f"/v1/runs/{run_id}", params=params)

        assert locs(problem(response, 422)) == [loc]


@pytest.mark.parametrize(
    "params",
    [{"as_of": "2026-04-30T00:00:00Z"}, {"as_of": "2026-05-01T13:00:00Z", "version": 1}],
)
def test_a_workflow_before_it_existed_or_as_of_with_version_is_a_422_at_as_of(
    engine: Ledgerflow, params: dict[str, Any]
) -> None:
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")

        response = client.get("/v1/workflows/etl", params=params)

        assert locs(problem(response, 422)) == ["as_of"]


def test_an_unknown_run_or_workflow_as_of_an_instant_is_a_404(engine: Ledgerflow) -> None:
    with a_client(engine) as client:
        run = client.get(
            "/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10", params={"as_of_version": 1}
        )
        workflow = client.get("/v1/workflows/nope", params={"as_of": "2026-05-01T12:00:00Z"})

        assert problem(run, 404)["type"].endswith("/run-not-found")
        assert problem(workflow, 404)["type"].endswith("/workflow-not-found")
