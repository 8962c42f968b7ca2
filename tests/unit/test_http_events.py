"""`GET /v1/events`: JSON pages or Server-Sent Events of the log, filters, and refusals."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from litestar.testing import TestClient

from engine.application import Ledgerflow
from gateways.http.app import create_app
from gateways.http.event_stream import EventStreaming
from tests.unit.test_cloud_events import an_engine_with_a_run
from tests.unit.test_http_builders import (
    PROBLEM_JSON,
    Client,
    a_probe,
    no_attempts,
    no_runs,
    no_statistics,
    no_workflows,
)

SSE = {"Accept": "text/event-stream"}


@contextmanager
def a_client_of(engine: Ledgerflow) -> Iterator[Client]:
    """The API; its event streams send what the log holds, then end (as on shutdown)."""
    streaming = EventStreaming()
    streaming.close()
    app = create_app(
        engine,
        a_probe(),
        list,
        runs=no_runs,
        workflows=no_workflows,
        attempts=no_attempts,
        statistics=no_statistics,
        projections=list,
        event_streaming=streaming,
    )
    with TestClient(app) as client:
        yield client


def sse_events(body: str) -> list[dict[str, str]]:
    events = []
    for block in body.split("\r\n\r\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "data" in fields:
            events.append(fields)
    return events


def test_without_accepting_a_stream_the_answer_is_a_page_of_cloudevents() -> None:
    with a_client_of(an_engine_with_a_run()) as client:
        response = client.get("/v1/events", params={"limit": 2})
        rest = client.get("/v1/events", params={"cursor": response.json()["next_cursor"]})

    page = response.json()
    assert [item["id"] for item in page["items"]] == ["ledgerflow-1", "ledgerflow-2"]
    assert page["last_position"] == 2
    assert [item["position"] for item in rest.json()["items"]] == [3, 4]
    assert rest.json()["next_cursor"] is None


def test_a_stream_carries_positions_flat_types_and_cloudevents_and_resumes_after_an_id() -> None:
    with a_client_of(an_engine_with_a_run()) as client:
        response = client.get("/v1/events", headers=SSE)
        resumed = client.get("/v1/events", headers={**SSE, "Last-Event-ID": "2"})

    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [event["id"] for event in events] == ["1", "2", "3", "4"]
    assert events[0]["event"] == "WorkflowRegistered"
    assert json.loads(events[3]["data"])["type"] == "dev.ledgerflow.run.task_started.v1"
    assert [event["id"] for event in sse_events(resumed.text)] == ["3", "4"]


def test_filters_narrow_the_events_by_type_workflow_and_run() -> None:
    engine = an_engine_with_a_run()
    with a_client_of(engine) as client:
        queued = client.get("/v1/events", params={"type": ["TaskQueued", "TaskStarted"]})
        run_id = queued.json()["items"][0]["run"]
        of_run = client.get("/v1/events", params={"run": run_id})
        of_other = client.get("/v1/events", params={"workflow": "other"})

    assert [i["type"] for i in queued.json()["items"]] == [
        "dev.ledgerflow.run.task_queued.v1",
        "dev.ledgerflow.run.task_started.v1",
    ]
    assert [i["position"] for i in of_run.json()["items"]] == [2, 3, 4]
    assert of_other.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "headers", "loc"),
    [
        ({"after": "soon"}, {}, "after"),
        ({"after": "-1"}, {}, "after"),
        ({"type": "TaskExploded"}, {}, "type"),
        ({}, {"Last-Event-ID": "ledgerflow-3"}, "Last-Event-ID"),
        ({"cursor": "not-a-cursor"}, {}, "cursor"),
        ({"cursor": "ZTEAAAAAAAAEtDm8h2wJ1w", "after": "3"}, {}, "cursor"),
        ({"run": "not-a-uuid"}, {}, "run"),
        ({"workflow": "no spaces"}, {}, "workflow"),
    ],
)
def test_bad_input_is_refused_with_a_problem_naming_it(
    params: dict[str, str], headers: dict[str, str], loc: str
) -> None:
    with a_client_of(an_engine_with_a_run()) as client:
        for accept in ({}, SSE):
            response = client.get("/v1/events", params=params, headers={**headers, **accept})

            assert response.status_code == 422
            assert response.headers["content-type"] == PROBLEM_JSON
            assert [error["loc"] for error in response.json()["errors"]] == [loc]


def test_the_schemas_list_every_event_type_with_its_json_schema() -> None:
    with a_client_of(an_engine_with_a_run()) as client:
        response = client.get("/v1/events/schemas")

    items = {item["name"]: item for item in response.json()["items"]}
    assert items["TaskSucceeded"]["type"] == "dev.ledgerflow.run.task_succeeded.v1"
    data = items["TaskSucceeded"]["json_schema"]["properties"]["data"]
    assert {"task", "attempt", "output"} <= set(data["required"])
