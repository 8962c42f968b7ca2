"""Errors and edges over HTTP: unknown routes, wrong methods, outages, bugs and correlation ids."""

from uuid import UUID

import pytest

from tests.unit.test_http_builders import (
    BrokenStoreFactory,
    ContendedStoreFactory,
    UnreachableStoreFactory,
    a_client,
    a_registered_workflow,
    an_engine,
    problem,
)


def test_an_unknown_route_is_a_404_problem() -> None:
    with a_client() as client:
        response = client.get("/v2/nothing-here")

        assert problem(response, 404)["type"].endswith("/not-found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/v1/workflows/etl", {"GET", "PUT", "DELETE", "OPTIONS"}),
        ("DELETE", "/v1/workflows", {"GET", "POST", "OPTIONS"}),
        ("DELETE", "/v1/runs", {"GET", "POST", "OPTIONS"}),
        ("PATCH", "/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10", {"GET", "OPTIONS"}),
    ],
)
def test_an_unsupported_method_is_a_405_that_lists_the_allowed_ones(
    method: str, path: str, allowed: set[str]
) -> None:
    with a_client() as client:
        response = client.request(method, path)

        problem(response, 405)
        assert set(response.headers["allow"].replace(" ", "").split(",")) == allowed


def test_an_unreachable_database_is_a_503_with_retry_after() -> None:
    with a_client(an_engine(UnreachableStoreFactory)) as client:
        response = client.get("/v1/workflows/etl")

        assert problem(response, 503)["type"].endswith("/unavailable")
        assert response.headers["retry-after"] == "1"


def test_a_command_that_keeps_colliding_with_other_writers_is_a_503_with_retry_after() -> None:
    with a_client(an_engine(ContendedStoreFactory)) as client:
        a_registered_workflow(client)
        run_id = client.post("/v1/workflows/etl/runs", json={}).json()["id"]

        response = client.post(f"/v1/runs/{run_id}/cancel", json={"reason": "stop"})

        assert problem(response, 503)["detail"].startswith("what the request changes kept")
        assert response.headers["retry-after"] == "1"
        assert client.get(f"/v1/runs/{run_id}").json()["status"] == "queued"


def test_an_unexpected_error_is_a_500_that_discloses_nothing() -> None:
    with a_client(an_engine(BrokenStoreFactory)) as client:
        response = client.get("/v1/workflows/etl")

        assert problem(response, 500)["type"].endswith("/internal-error")
        assert "secret" not in response.text
        assert "RuntimeError" not in response.text


def test_a_sane_request_id_is_echoed_back() -> None:
    with a_client() as client:
        response = client.get("/health/live", headers={"X-Request-Id": "deploy-7.run:3_a"})

        assert response.headers["x-request-id"] == "deploy-7.run:3_a"


@pytest.mark.parametrize("offered", [None, "", "x" * 129, "has space", "semi;colon", "é"])
def test_a_missing_or_insane_request_id_is_replaced_by_a_new_uuid(offered: str | None) -> None:
    headers = {} if offered is None else {b"X-Request-Id": offered.encode()}
    with a_client() as client:
        response = client.get("/health/live", headers=headers)

        assert UUID(response.headers["x-request-id"]).version == 4


def test_error_responses_carry_the_request_id_too() -> None:
    with a_client() as client:
        response = client.get("/v1/workflows/nope", headers={"X-Request-Id": "trace-1"})

        problem(response, 404)
        assert response.headers["x-request-id"] == "trace-1"


def test_the_request_id_is_the_correlation_id_of_the_events_it_causes() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        run = client.post("/v1/workflows/etl/runs", headers={"X-Request-Id": "trace-2"}).json()

        events = client.get(f"/v1/runs/{run['id']}/events").json()["items"]
        assert {event["correlation_id"] for event in events} == {"trace-2"}
