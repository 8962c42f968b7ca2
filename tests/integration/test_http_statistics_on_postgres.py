"""A workflow's statistics over HTTP on real PostgreSQL: runs started and ended through the API."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
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
from projections.statistics.projection import STATISTICS
from tests.clocks import MovingClock
from tests.integration.loops import running

pytestmark = pytest.mark.integration

HANG = 30.0
TEN = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
SPEC = {"name": "etl", "tasks": [{"name": "a", "command": "echo a"}]}
Client = TestClient[Litestar]


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
    """The statistics projection, caught up with the log when the block starts."""
    async with running(build_projection(engine, STATISTICS)):
        head = await asyncio.to_thread(engine.recorder.max_notification_id) or 0
        await asyncio.to_thread(build_statistics_view(engine).wait_for, head, HANG)
        yield


def a_run(
    client: Client, engine: Ledgerflow, clock: MovingClock, minute: int, outcome: str
) -> None:
    """A run of etl started `minute` minutes after ten that ends a second later with `outcome`."""
    clock.move_to(TEN + timedelta(minutes=minute))
    response = client.post("/v1/workflows/etl/runs")
    assert response.status_code == 202, response.text
    run_id = UUID(response.json()["id"])
    clock.advance(1)
    if outcome == "cancelled":
        assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 202
        return
    engine.record_reports(
        [
            TaskReport(run_id, "default", "a", 1, 1, "w1", "started"),
            TaskReport(run_id, "default", "a", 1, 1, "w1", outcome),  # type: ignore[arg-type]
        ]
    )


def fetched(client: Client, path: str = "/v1/workflows/etl/statistics", **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_runs_ended_through_the_api_are_counted_per_hour_and_day(
    engine_on_clock: Ledgerflow, clock: MovingClock
) -> None:
    engine = engine_on_clock
    with a_client(engine) as client:
        assert client.post("/v1/workflows", json=SPEC).status_code == 201
        for minute, outcome in ((5, "succeeded"), (10, "failed"), (70, "cancelled")):
            a_run(client, engine, clock, minute, outcome)
        async with projected(engine):
            first = fetched(client, limit=1)
            second = fetched(client, limit=1, cursor=first["next_cursor"])
            (day,) = fetched(client, granularity="day")["items"]
            windowed = fetched(client, since="2026-05-01T11:00:00Z", until="2026-05-02T00:00:00Z")

    (eleven,), (ten,) = first["items"], second["items"]
    assert (eleven["bucket_start"], eleven["finished"], eleven["cancelled"]) == (
        "2026-05-01T11:00:00Z",
        1,
        1,
    )
    assert (ten["bucket_start"], ten["succeeded"], ten["failed"], ten["success_rate"]) == (
        "2026-05-01T10:00:00Z",
        1,
        1,
        0.5,
    )
    assert ten["duration_ms"] == {"p50": 1000, "p95": 1000, "p99": 1000, "mean": 1000, "max": 1000}
    assert second["next_cursor"] is None
    assert (day["bucket_start"], day["finished"], day["granularity"]) == (
        "2026-05-01T00:00:00Z",
        3,
        "day",
    )
    assert [item["bucket_start"] for item in windowed["items"]] == ["2026-05-01T11:00:00Z"]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("granularity=minute", "granularity"),
        ("since=2026-05-01", "since"),
        ("until=2026-05-01T10:00:00Z&since=2026-05-01T11:00:00Z", "until"),
        ("limit=501", "limit"),
        ("cursor=djE6NTA", "cursor"),
    ],
)
async def test_bad_parameters_are_a_422_naming_them(
    engine: Ledgerflow, query: str, loc: str
) -> None:
    engine.register_workflow("default", WorkflowSpec.model_validate(SPEC), engine.origin("t"))
    with a_client(engine) as client:
        response = client.get(f"/v1/workflows/etl/statistics?{query}")

    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == [loc]


async def test_another_tenants_workflow_is_not_found(engine: Ledgerflow) -> None:
    engine.register_workflow("acme", WorkflowSpec.model_validate(SPEC), engine.origin("t"))
    with a_client(engine) as client:
        response = client.get("/v1/workflows/etl/statistics")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/workflow-not-found")
