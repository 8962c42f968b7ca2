"""`GET /v1/workers`: the worker registry from its read model."""

from datetime import UTC, datetime

from projections.attempts_view import WorkerRow
from tests.unit.test_http_builders import a_client

A_WORKER = WorkerRow(
    name="w1",
    instance="abc123",
    status="lost",
    queues=["default", "gpu"],
    capacity=4,
    host="box",
    version="0.1.0",
    registered_at=datetime(2026, 1, 1, tzinfo=UTC),
    last_change_at=datetime(2026, 1, 2, tzinfo=UTC),
)


def test_workers_are_listed_with_their_liveness() -> None:
    with a_client(workers=lambda: [A_WORKER]) as client:
        response = client.get("/v1/workers")

        assert response.status_code == 200
        (item,) = response.json()["items"]
        assert (item["name"], item["status"], item["queues"]) == ("w1", "lost", ["default", "gpu"])
        assert response.json()["next_cursor"] is None


def test_no_workers_is_an_empty_list() -> None:
    with a_client() as client:
        assert client.get("/v1/workers").json() == {"items": [], "next_cursor": None}


def test_writing_to_the_worker_list_is_a_405() -> None:
    with a_client() as client:
        response = client.post("/v1/workers", json={})

        assert response.status_code == 405
        assert "GET" in response.headers["allow"]
