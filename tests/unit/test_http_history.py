"""A run's history over HTTP: its events with positions and metadata, paged by opaque cursors."""

from typing import Any
from uuid import uuid4

import pytest

from tests.unit.test_http_builders import (
    Client,
    a_client,
    a_registered_workflow,
    a_started_run,
    locs,
    problem,
)


def a_cancelled_run(client: Client) -> str:
    """A run with three events: RunStarted, TaskQueued, RunCancelled."""
    a_registered_workflow(client, "etl")
    run_id: str = a_started_run(client, "etl")["id"]
    client.post(f"/v1/runs/{run_id}/cancel", json={"reason": "stop"})
    return run_id


def test_a_runs_history_lists_its_events_in_order_with_flat_type_names() -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        response = client.get(f"/v1/runs/{run_id}/events")

        assert response.status_code == 200
        page = response.json()
        assert [(e["type"], e["version"]) for e in page["items"]] == [
            ("RunStarted", 1),
            ("TaskQueued", 2),
            ("RunCancelled", 3),
        ]
        assert page["next_cursor"] is None


def test_each_event_carries_its_log_position_tenant_actor_correlation_id_and_data() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        run_id = client.post(
            "/v1/workflows/etl/runs", json={}, headers={"X-Request-Id": "deploy.42"}
        ).json()["id"]

        events = client.get(f"/v1/runs/{run_id}/events").json()["items"]

        queued = events[1]
        assert queued["position"] > events[0]["position"]
        assert (queued["tenant"], queued["actor"]) == ("default", "anonymous")
        assert queued["correlation_id"] == "deploy.42"
        assert queued["data"] == {"task": "extract", "attempt": 1, "queue": "default"}
        assert queued["timestamp"]


def test_following_next_cursor_pages_through_the_whole_history() -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        first = client.get(f"/v1/runs/{run_id}/events", params={"limit": 2}).json()
        rest = client.get(
            f"/v1/runs/{run_id}/events", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()

        assert [e["version"] for e in first["items"]] == [1, 2]
        assert [e["version"] for e in rest["items"]] == [3]
        assert rest["next_cursor"] is None


def test_a_page_that_ends_exactly_at_the_last_event_has_no_next_cursor() -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        page = client.get(f"/v1/runs/{run_id}/events", params={"limit": 3}).json()

        assert len(page["items"]) == 3
        assert page["next_cursor"] is None


def test_after_starts_the_page_after_that_run_version() -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        page = client.get(f"/v1/runs/{run_id}/events", params={"after": 1}).json()

        assert [e["version"] for e in page["items"]] == [2, 3]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5"])
def test_a_limit_outside_1_to_500_is_a_422_at_limit(limit: str) -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        response = client.get(f"/v1/runs/{run_id}/events", params={"limit": limit})

        assert locs(problem(response, 422)) == ["limit"]


@pytest.mark.parametrize("after", ["-1", "x"])
def test_a_negative_or_non_integer_after_is_a_422_at_after(after: str) -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        response = client.get(f"/v1/runs/{run_id}/events", params={"after": after})

        assert locs(problem(response, 422)) == ["after"]


@pytest.mark.parametrize("cursor", ["garbage!", "djE6", "eDox", "djE6LTE", "x" * 65])
def test_a_cursor_this_api_did_not_issue_is_a_422_at_cursor(cursor: str) -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        response = client.get(f"/v1/runs/{run_id}/events", params={"cursor": cursor})

        assert locs(problem(response, 422)) == ["cursor"]


def test_after_and_cursor_together_are_a_422_at_cursor() -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)
        cursor = client.get(f"/v1/runs/{run_id}/events", params={"limit": 1}).json()

        response = client.get(
            f"/v1/runs/{run_id}/events", params={"after": 1, "cursor": cursor["next_cursor"]}
        )

        assert locs(problem(response, 422)) == ["cursor"]


def test_the_history_of_an_unknown_run_is_a_404() -> None:
    with a_client() as client:
        response = client.get(f"/v1/runs/{uuid4()}/events")

        assert problem(response, 404)["type"].endswith("/run-not-found")


def test_the_history_of_a_malformed_run_id_is_a_422_at_run_id() -> None:
    with a_client() as client:
        response = client.get("/v1/runs/nope/events")

        assert locs(problem(response, 422)) == ["run_id"]


def test_a_type_filter_keeps_only_events_of_those_types_in_order() -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        page = client.get(
            f"/v1/runs/{run_id}/events", params={"type": ["RunCancelled", "RunStarted"]}
        ).json()

        assert [(e["type"], e["version"]) for e in page["items"]] == [
            ("RunStarted", 1),
            ("RunCancelled", 3),
        ]


def test_a_filtered_history_pages_by_cursor_over_the_matching_events() -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)
        wanted: dict[str, Any] = {"type": ["RunStarted", "RunCancelled"], "limit": 1}

        first = client.get(f"/v1/runs/{run_id}/events", params=wanted).json()
        rest = client.get(
            f"/v1/runs/{run_id}/events", params={**wanted, "cursor": first["next_cursor"]}
        ).json()

        assert [e["type"] for e in first["items"] + rest["items"]] == ["RunStarted", "RunCancelled"]
        assert rest["next_cursor"] is None


@pytest.mark.parametrize("event_type", ["Nope", "runstarted", "WorkflowRegistered", ""])
def test_an_unknown_event_type_is_a_422_at_type(event_type: str) -> None:
    with a_client() as client:
        run_id = a_cancelled_run(client)

        response = client.get(f"/v1/runs/{run_id}/events", params={"type": event_type})

        body = problem(response, 422)
        assert locs(body) == ["type"]
        assert "RunStarted" in body["errors"][0]["msg"]
