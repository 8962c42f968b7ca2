"""The HTTP API on real PostgreSQL: the whole flow, bad input that stores nothing, and outages."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from engine.application import Ledgerflow
from gateways.http.app import create_app
from gateways.http.health import Readiness
from ops.embedded import EmbeddedPostgres
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import (
    build_attempts_view,
    build_engine,
    build_projection_status,
    build_runs_view,
    build_schedules_view,
    build_statistics_view,
)

pytestmark = pytest.mark.integration

SPEC = {
    "name": "etl",
    "tasks": [
        {"name": "extract", "command": "echo e"},
        {"name": "load", "command": "echo l", "depends_on": ["extract"]},
    ],
}
# A hang detector, not a budget: eventsourcing retries a failed read 10 times, each waiting up
# to the connect timeout (5 s in ops.settings), so a request now takes ~50 s to get its 503.
HANG_DETECTOR_SECONDS = 120.0


async def _database_up() -> Readiness:
    return Readiness(database=True, nats=False)


@contextmanager
def a_client(engine: Ledgerflow) -> Iterator[TestClient[Litestar]]:
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
        schedule_totals=build_schedules_view(engine).every,
    )
    with TestClient(app) as client:
        yield client


def test_a_run_started_twice_with_one_key_is_one_run_with_a_positioned_history(
    engine: Ledgerflow,
) -> None:
    with a_client(engine) as client:
        assert client.post("/v1/workflows", json=SPEC).status_code == 201
        key = {"Idempotency-Key": "deploy-1", "X-Request-Id": "trace-9"}
        first = client.post("/v1/workflows/etl/runs", json={"inputs": {"n": 1}}, headers=key)
        again = client.post("/v1/workflows/etl/runs", json={"inputs": {"n": 1}}, headers=key)

        page = client.get(f"/v1/runs/{first.json()['id']}/events", params={"limit": 1}).json()
        rest = client.get(
            f"/v1/runs/{first.json()['id']}/events", params={"cursor": page["next_cursor"]}
        ).json()

        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["id"] == first.json()["id"]
        events = page["items"] + rest["items"]
        assert [e["type"] for e in events] == ["RunStarted", "TaskQueued"]
        assert events[0]["position"] < events[1]["position"]
        assert {e["correlation_id"] for e in events} == {"trace-9"}


def test_a_cancelled_run_cannot_be_cancelled_again(engine: Ledgerflow) -> None:
    with a_client(engine) as client:
        client.post("/v1/workflows", json=SPEC)
        run_id = client.post("/v1/workflows/etl/runs").json()["id"]

        cancelled = client.post(f"/v1/runs/{run_id}/cancel", json={"reason": "stop"})
        again = client.post(f"/v1/runs/{run_id}/cancel")

        assert (cancelled.status_code, cancelled.json()["status"]) == (202, "cancelled")
        assert again.status_code == 409
        assert client.get(f"/v1/runs/{run_id}").json()["reason"] == "stop"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/workflows/etl/runs", b'{"inputs": {"a": "x\\u0000y"}}'),
        ("/v1/workflows/etl/runs", b'{"inputs": {"\\ud800": 1}}'),
        ("/v1/workflows", b'{"name": "x", "tasks": [{"name": "a", "command": "\\u0000"}]}'),
        ("/v1/workflows", b"[" * 100 + b"]" * 100),
    ],
    ids=["nul-input", "surrogate-key", "nul-command", "too-deep"],
)
def test_input_postgresql_could_not_store_is_refused_and_stores_nothing(
    engine: Ledgerflow, path: str, body: bytes
) -> None:
    with a_client(engine) as client:
        client.post("/v1/workflows", json=SPEC)
        head = engine.recorder.max_notification_id()

        response = client.post(path, content=body, headers={"Content-Type": "application/json"})

        assert response.status_code in (400, 422)
        assert response.headers["content-type"] == "application/problem+json"
        assert engine.recorder.max_notification_id() == head


def test_while_postgresql_is_down_requests_get_503_and_after_it_returns_they_work(
    server_tmp_path: Path, unique_name: str
) -> None:
    postgres = EmbeddedPostgres(server_tmp_path / "pg")
    settings = Settings(database_url=postgres.start(), schema=unique_name, pool_size=2)
    migrate(settings)
    engine = build_engine(settings)
    try:
        with a_client(engine) as client:
            client.post("/v1/workflows", json=SPEC)
            postgres.stop()

            started = time.monotonic()
            down = client.get("/v1/workflows/etl")
            waited = time.monotonic() - started
            postgres.start()
            up = client.get("/v1/workflows/etl")

        assert down.status_code == 503
        assert down.headers["retry-after"] == "1"
        assert down.headers["content-type"] == "application/problem+json"
        assert waited < HANG_DETECTOR_SECONDS
        assert up.status_code == 200
    finally:
        engine.close()
        postgres.stop()
