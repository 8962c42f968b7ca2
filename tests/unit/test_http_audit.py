"""The audit log over HTTP: a tenant's changes with who made them, filtered and paged."""

from typing import Any

import pytest

from tests.unit.test_http_builders import (
    Client,
    a_client,
    a_registered_workflow,
    a_started_run,
    locs,
    problem,
)


def some_changes(client: Client) -> str:
    """alice registers etl and starts a run; bob cancels it. Returns the run id."""
    alice, bob = {"X-Request-Id": "alice-1"}, {"X-Request-Id": "bob-1"}
    client.post("/v1/workflows", json=_spec(), headers=alice)
    run_id: str = client.post("/v1/workflows/etl/runs", json={}, headers=alice).json()["id"]
    client.post(f"/v1/runs/{run_id}/cancel", json={"reason": "stop"}, headers=bob)
    return run_id


def _spec() -> dict[str, Any]:
    return {"name": "etl", "tasks": [{"name": "extract", "command": "echo e"}]}


def test_the_audit_log_lists_every_change_with_its_actor_and_correlation_id() -> None:
    with a_client() as client:
        run_id = some_changes(client)

        page = client.get("/v1/audit").json()

        assert [(e["type"], e["aggregate"], e["correlation_id"]) for e in page["items"]] == [
            ("WorkflowRegistered", "Workflow", "alice-1"),
            ("RunStarted", "Run", "alice-1"),
            ("TaskQueued", "Run", "alice-1"),
            ("RunCancelled", "Run", "bob-1"),
        ]
        assert page["items"][-1]["aggregate_id"] == run_id
        assert {e["actor"] for e in page["items"]} == {"anonymous"}
        assert page["next_cursor"] is None


def test_the_audit_log_filters_by_type_and_actor() -> None:
    with a_client() as client:
        some_changes(client)

        cancels = client.get("/v1/audit", params={"type": "RunCancelled"}).json()["items"]
        nobody = client.get("/v1/audit", params={"actor": "mallory"}).json()["items"]

        assert [e["data"] for e in cancels] == [{"reason": "stop"}]
        assert nobody == []


def test_the_audit_log_filters_by_time_window() -> None:
    with a_client() as client:
        some_changes(client)
        first = client.get("/v1/audit").json()["items"][0]["timestamp"]

        before = client.get("/v1/audit", params={"until": first}).json()["items"]
        since = client.get("/v1/audit", params={"since": first}).json()["items"]

        assert before == []
        assert len(since) == 4


def test_following_next_cursor_pages_through_the_audit_log() -> None:
    with a_client() as client:
        some_changes(client)

        first = client.get("/v1/audit", params={"limit": 3}).json()
        rest = client.get("/v1/audit", params={"limit": 3, "cursor": first["next_cursor"]}).json()

        assert [len(first["items"]), len(rest["items"])] == [3, 1]
        assert rest["next_cursor"] is None


def test_another_tenants_changes_are_not_listed() -> None:
    with a_client() as client:
        some_changes(client)

        page = client.get("/v1/audit", params={"type": "WorkerRegistered"}).json()

        assert page["items"] == []


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"type": "Nope"}, "type"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-05-01"}, "until"),
        ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, "until"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "cjEABlC38D5qQAteHZxPakwemjN9L45LbBBur4xKfFk"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"actor": ""}, "actor"),
    ],
)
def test_bad_audit_queries_are_a_422_naming_the_parameter(params: dict[str, Any], loc: str) -> None:
    with a_client() as client:
        response = client.get("/v1/audit", params=params)

        assert locs(problem(response, 422)) == [loc]


def test_a_run_started_through_the_api_records_the_request_id_on_every_event() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl")

        events = client.get(f"/v1/runs/{run['id']}/events").json()["items"]

        assert all(e["actor"] == "anonymous" and e["correlation_id"] for e in events)
