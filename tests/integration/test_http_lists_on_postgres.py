"""The lists over HTTP on real PostgreSQL: runs started through the API, projected, then listed."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from aggregates.run import TaskReport
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from gateways.http.app import create_app
from gateways.http.health import Readiness
from ops.system import (
    build_attempts_view,
    build_projection,
    build_projection_status,
    build_runs_view,
    build_statistics_view,
)
from projections.attempts import ATTEMPTS
from projections.runs.projection import RUNS
from tests.integration.loops import all_running

pytestmark = pytest.mark.integration

HANG = 30.0
Client = TestClient[Litestar]


def a_spec(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} workflow.",
        "tasks": [
            {"name": "extract", "command": "echo e"},
            {"name": "load", "command": "echo l", "depends_on": ["extract"]},
        ],
    }


async def _database_up() -> Readiness:
    return Readiness(database=True, nats=False)


@contextmanager
def a_client(engine: Ledgerflow) -> Iterator[Client]:
    attempts, runs = build_attempts_view(engine), build_runs_view(engine)
    app = create_app(
        engine,
        _database_up,
        attempts.workers,
        runs=runs.runs,
        workflows=runs.workflows,
        attempts=attempts.attempts_of,
        statistics=build_statistics_view(engine).buckets,
        projections=build_projection_status(engine),
    )
    with TestClient(app) as client:
        yield client


@asynccontextmanager
async def projected(engine: Ledgerflow) -> AsyncIterator[None]:
    """The runs and attempts projections, caught up with the log when the block starts."""
    async with all_running(build_projection(engine, RUNS), build_projection(engine, ATTEMPTS)):
        head = await asyncio.to_thread(engine.recorder.max_notification_id) or 0
        for view in (build_runs_view(engine), build_attempts_view(engine)):
            await asyncio.to_thread(view.wait_for, head, HANG)
        yield


def listed(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def five_runs(client: Client) -> list[str]:
    """Runs of etl, etl, other, etl, other, in that order; the second is cancelled."""
    for name in ("etl", "other"):
        assert client.post("/v1/workflows", json=a_spec(name)).status_code == 201
    started = []
    for name in ("etl", "etl", "other", "etl", "other"):
        response = client.post(f"/v1/workflows/{name}/runs")
        assert response.status_code == 202, response.text
        started.append(response.json()["id"])
    assert client.post(f"/v1/runs/{started[1]}/cancel").status_code == 202
    return started


async def test_runs_started_over_http_are_listed_page_by_page_and_by_filter(
    engine: Ledgerflow,
) -> None:
    with a_client(engine) as client:
        started = five_runs(client)
        third_created = client.get(f"/v1/runs/{started[2]}").json()["created_at"]
        async with projected(engine):
            pages = [listed(client, "/v1/runs", limit=2)]
            while pages[-1]["next_cursor"]:
                cursor = pages[-1]["next_cursor"]
                pages.append(listed(client, "/v1/runs", limit=2, cursor=cursor))
            cancelled = listed(client, "/v1/runs", status="cancelled")
            others = listed(client, "/v1/runs", workflow="other")
            queued_etl = client.get("/v1/runs?status=queued&status=running&workflow=etl").json()
            since_third = listed(client, "/v1/runs", created_after=third_created)
            forged = client.get("/v1/runs", params={"cursor": "djE6NTA"})

    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert [run_id for page in pages for run_id in ids(page)] == started[::-1]
    assert ids(cancelled) == [started[1]]
    assert cancelled["items"][0]["reason"] == "cancelled through the API"
    assert ids(others) == [started[4], started[2]]
    assert ids(queued_etl) == [started[3], started[0]]
    assert ids(since_third) == [started[4], started[3], started[2]]
    assert forged.status_code == 422
    assert forged.json()["errors"][0]["loc"] == "cursor"


async def test_workflows_are_listed_with_their_run_counts_and_last_runs(
    engine: Ledgerflow,
) -> None:
    with a_client(engine) as client:
        started = five_runs(client)
        async with projected(engine):
            first = listed(client, "/v1/workflows", limit=1)
            second = listed(client, "/v1/workflows", limit=1, cursor=first["next_cursor"])

    (etl,), (other,) = first["items"], second["items"]
    assert (etl["name"], etl["run_count"], etl["description"]) == ("etl", 3, "The etl workflow.")
    assert (etl["last_run"]["id"], etl["last_run"]["status"]) == (started[3], "queued")
    assert (other["name"], other["run_count"], other["last_run"]["id"]) == ("other", 2, started[4])
    assert second["next_cursor"] is None


async def test_a_runs_attempts_show_their_timings_logs_and_output(engine: Ledgerflow) -> None:
    with a_client(engine) as client:
        client.post("/v1/workflows", json=a_spec("etl"))
        run_id = UUID(client.post("/v1/workflows/etl/runs").json()["id"])
        engine.record_reports(
            [
                TaskReport(run_id, "default", "extract", 1, 1, "w1", "started"),
                TaskReport(
                    run_id,
                    "default",
                    "extract",
                    1,
                    1,
                    "w1",
                    "succeeded",
                    exit_code=0,
                    stdout_tail="42 rows\n",
                    output={"rows": 42},
                ),
                TaskReport(run_id, "default", "load", 1, 1, "w1", "started"),
            ]
        )
        async with projected(engine):
            page = listed(client, f"/v1/runs/{run_id}/tasks")

    extract, load = page["items"]
    assert (extract["task"], extract["status"], extract["exit_code"]) == ("extract", "succeeded", 0)
    assert (extract["stdout_tail"], extract["output"]) == ("42 rows\n", {"rows": 42})
    assert extract["duration_ms"] is not None
    assert (load["task"], load["status"], load["worker"]) == ("load", "running", "w1")
    assert (load["stdout_tail"], load["finished_at"]) == (None, None)


async def test_another_tenants_runs_are_neither_listed_nor_found(engine: Ledgerflow) -> None:
    spec = WorkflowSpec.model_validate(a_spec("etl"))
    engine.register_workflow("acme", spec, engine.origin("t"))
    theirs, _ = engine.start_run("acme", "etl", {}, engine.origin("t"))

    with a_client(engine) as client:
        async with projected(engine):
            runs = listed(client, "/v1/runs")
            workflows = listed(client, "/v1/workflows")
            attempts = client.get(f"/v1/runs/{theirs.id}/tasks")

    assert (runs["items"], workflows["items"]) == ([], [])
    assert attempts.status_code == 404


async def test_retired_workflows_leave_the_list_unless_asked_for_and_return_when_restored(
    engine: Ledgerflow,
) -> None:
    with a_client(engine) as client:
        for name in ("etl", "old", "paused"):
            assert client.post("/v1/workflows", json=a_spec(name)).status_code == 201
        assert client.delete("/v1/workflows/old", params={"reason": "replaced"}).status_code == 204
        assert client.delete("/v1/workflows/paused").status_code == 204
        assert client.delete("/v1/workflows/paused").status_code == 204  # records nothing
        assert client.put("/v1/workflows/paused", json=a_spec("paused")).status_code == 200
        retired_at = client.get("/v1/workflows/old").json()["retired_at"]
        async with projected(engine):
            active = listed(client, "/v1/workflows")
            everything = listed(client, "/v1/workflows", include_retired="true")

    assert [item["name"] for item in active["items"]] == ["etl", "paused"]
    assert [(i["name"], i["retired"]) for i in everything["items"]] == [
        ("etl", False),
        ("old", True),
        ("paused", False),
    ]
    old, paused = everything["items"][1], everything["items"][2]
    assert old["retired_at"] == retired_at
    assert (paused["retired_at"], paused["current_version"]) == (None, 2)


async def test_an_adhoc_run_is_listed_and_counts_for_no_workflow(engine: Ledgerflow) -> None:
    with a_client(engine) as client:
        assert client.post("/v1/workflows", json=a_spec("etl")).status_code == 201
        registered = client.post("/v1/workflows/etl/runs").json()["id"]
        response = client.post("/v1/runs", json={"workflow": a_spec("etl"), "inputs": {"a": 1}})
        assert response.status_code == 202, response.text
        adhoc = response.json()["id"]
        async with projected(engine):
            runs = listed(client, "/v1/runs")
            adhoc_only = listed(client, "/v1/runs", trigger="adhoc")
            workflows = listed(client, "/v1/workflows")
        read = client.get(f"/v1/runs/{adhoc}")

    assert ids(runs) == [adhoc, registered]
    (summary,) = adhoc_only["items"]
    assert (summary["id"], summary["workflow"], summary["workflow_version"]) == (adhoc, "etl", 0)
    assert (summary["trigger"], summary["status"]) == ("adhoc", "queued")
    (etl,) = workflows["items"]
    assert (etl["run_count"], etl["last_run"]["id"]) == (1, registered)
    assert read.status_code == 200
    assert read.json()["inputs"] == {"a": 1}
