"""POST /v1/events/ingest: a CloudEvent starts the runs its triggers match, once per event id."""

import json
from typing import Any

from tests.unit.test_http_builders import (
    Client,
    a_client,
    a_spec,
    an_engine,
    locs,
    problem,
    recorded,
)

CLOUD_EVENTS_JSON = "application/cloudevents+json"


def an_event(event_id: str = "evt-1", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/shop",
        "type": "orders.created",
        "data": {"order": 7, "status": "paid"},
    }
    event.update(fields)
    return event


def a_triggered_workflow(client: Client, name: str = "fulfil", **trigger: Any) -> None:
    triggers = [{"subject": "orders.created", **trigger}]
    response = client.post("/v1/workflows", json=a_spec(name, triggers=triggers))
    assert response.status_code == 201, response.text


def ingest(client: Client, event: object, content_type: str = CLOUD_EVENTS_JSON) -> Any:
    return client.post(
        "/v1/events/ingest",
        content=json.dumps(event).encode(),
        headers={"Content-Type": content_type},
    )


def test_an_event_starts_a_run_of_each_matching_workflow_with_the_event_as_inputs() -> None:
    with a_client() as client:
        a_triggered_workflow(client, "fulfil")
        a_triggered_workflow(client, "notify")

        response = ingest(client, an_event())

        assert response.status_code == 202, response.text
        runs = response.json()["runs"]
        assert [(r["workflow"], r["created"]) for r in runs] == [
            ("fulfil", True),
            ("notify", True),
        ]
        run = client.get(runs[0]["url"]).json()
        assert run["trigger"] == "event"
        assert run["inputs"]["data"] == {"order": 7, "status": "paid"}


def test_the_same_event_id_again_answers_200_with_the_runs_it_started() -> None:
    with a_client() as client:
        a_triggered_workflow(client)
        first = ingest(client, an_event("evt-9")).json()["runs"]

        again = ingest(client, an_event("evt-9"), content_type="application/json")

        assert again.status_code == 200, again.text
        assert again.json()["runs"] == [{**first[0], "created": False}]


def test_an_event_the_filter_refuses_starts_nothing() -> None:
    with a_client() as client:
        a_triggered_workflow(client, filter={"data.status": "paid"}, type="orders.created")

        response = ingest(client, an_event(data={"order": 8, "status": "pending"}))

        assert response.status_code == 202
        assert response.json()["runs"] == []


def test_the_subject_parameter_names_the_subject_instead_of_the_type() -> None:
    with a_client() as client:
        a_triggered_workflow(client)

        response = client.post(
            "/v1/events/ingest?subject=orders.created",
            json=an_event(type="com.example.order"),
        )

        assert response.status_code == 202
        assert len(response.json()["runs"]) == 1


def test_an_event_that_is_not_a_cloud_event_is_a_422_and_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_triggered_workflow(client)
        before = recorded(engine)

        response = ingest(client, {"id": "x", "type": "orders.created"})

        assert set(locs(problem(response, 422))) >= {"specversion", "source"}
        assert recorded(engine) == before


def test_an_event_over_the_inputs_limit_is_a_422() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_triggered_workflow(client)
        before = recorded(engine)

        response = ingest(client, an_event(data={"blob": "x" * 300_000}))

        assert locs(problem(response, 422)) == ["body"]
        assert recorded(engine) == before


def test_a_body_of_another_media_type_is_a_415() -> None:
    with a_client() as client:
        response = ingest(client, an_event(), content_type="text/plain")

        problem(response, 415)


def test_a_trigger_with_a_wildcard_subject_is_refused_at_registration() -> None:
    with a_client() as client:
        spec = a_spec(triggers=[{"subject": "orders.>"}])

        response = client.post("/v1/workflows", json=spec)

        assert locs(problem(response, 422)) == ["triggers[0].subject"]
