"""Retiring a workflow over HTTP: a soft delete that keeps history, refuses runs, and PUT undoes."""

import pytest

from aggregates.spec import WorkflowSpec
from aggregates.workflow import Workflow
from tests.unit.test_http_builders import (
    a_client,
    a_registered_workflow,
    a_spec,
    a_started_run,
    an_engine,
    locs,
    problem,
    recorded,
)


def test_retiring_a_workflow_answers_204_with_no_body() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.delete("/v1/workflows/etl")

        assert response.status_code == 204
        assert response.content == b""
        assert recorded(engine) == before + 1


def test_retiring_records_the_reason_and_who_asked() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")

        client.delete(
            "/v1/workflows/etl", params={"reason": "replaced"}, headers={"X-Request-Id": "r-1"}
        )

        (retired,) = [
            event
            for event in engine.repository.event_store.get(Workflow.id_for("default", "etl"))
            if isinstance(event, Workflow.Retired)
        ]
        assert (retired.reason, retired.correlation_id, retired.tenant) == (
            "replaced",
            "r-1",
            "default",
        )


def test_retiring_a_retired_workflow_is_a_204_that_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        client.delete("/v1/workflows/etl")
        before = recorded(engine)

        response = client.delete("/v1/workflows/etl", params={"reason": "again"})

        assert response.status_code == 204
        assert recorded(engine) == before


def test_retiring_an_unknown_workflow_is_a_404() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.delete("/v1/workflows/nope")

        assert problem(response, 404)["type"].endswith("/workflow-not-found")
        assert recorded(engine) == 0


def test_a_retired_workflow_still_reads_with_when_and_why_it_was_retired() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        client.delete("/v1/workflows/etl", params={"reason": "replaced"})

        current = client.get("/v1/workflows/etl")
        first = client.get("/v1/workflows/etl", params={"version": 1})

        assert current.status_code == first.status_code == 200
        body = current.json()
        assert (body["retired"], body["retired_reason"], body["version"]) == (True, "replaced", 1)
        assert body["retired_at"] is not None
        assert body["updated_at"] == body["created_at"]  # no new version was recorded
        assert first.json()["retired"] is True


def test_an_active_workflow_reads_as_not_retired() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        body = client.get("/v1/workflows/etl").json()

        assert (body["retired"], body["retired_at"], body["retired_reason"]) == (False, None, None)


def test_starting_a_run_of_a_retired_workflow_is_a_409_that_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        client.delete("/v1/workflows/etl")
        before = recorded(engine)

        response = client.post("/v1/workflows/etl/runs", json={})

        assert problem(response, 409)["type"].endswith("/workflow-retired")
        assert recorded(engine) == before


def test_runs_started_before_retirement_stay_readable() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl")
        client.delete("/v1/workflows/etl")

        response = client.get(f"/v1/runs/{run['id']}")

        assert response.status_code == 200
        assert response.json()["status"] == "queued"


def test_a_replayed_start_from_before_retirement_still_returns_its_run() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        headers = {"Idempotency-Key": "k-1"}
        first = client.post("/v1/workflows/etl/runs", json={}, headers=headers)
        client.delete("/v1/workflows/etl")

        replay = client.post("/v1/workflows/etl/runs", json={}, headers=headers)

        assert replay.status_code == 200
        assert replay.json()["id"] == first.json()["id"]


def test_registering_the_name_of_a_retired_workflow_is_a_409() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        client.delete("/v1/workflows/etl")
        before = recorded(engine)

        response = client.post("/v1/workflows", json=a_spec("etl"))

        assert problem(response, 409)["type"].endswith("/workflow-exists")
        assert recorded(engine) == before


def test_applying_an_unchanged_definition_restores_a_retired_workflow_at_a_new_version() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        client.delete("/v1/workflows/etl")

        response = client.put("/v1/workflows/etl", json=a_spec("etl"))

        assert response.status_code == 200
        assert (response.json()["version"], response.json()["applied"]) == (2, "revised")
        body = client.get("/v1/workflows/etl").json()
        assert (body["retired"], body["retired_at"], body["current_version"]) == (False, None, 2)
        assert a_started_run(client, "etl")["workflow_version"] == 2


def test_a_restored_workflow_can_be_retired_again() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        client.delete("/v1/workflows/etl")
        client.put("/v1/workflows/etl", json=a_spec("etl"))
        before = recorded(engine)

        response = client.delete("/v1/workflows/etl")

        assert response.status_code == 204
        assert recorded(engine) == before + 1
        assert client.get("/v1/workflows/etl").json()["retired"] is True


def test_another_tenants_workflow_cannot_be_retired() -> None:
    engine = an_engine()
    engine.register_workflow("acme", WorkflowSpec.model_validate(a_spec("etl")), engine.origin("t"))
    with a_client(engine) as client:
        before = recorded(engine)

        response = client.delete("/v1/workflows/etl")

        assert problem(response, 404)["type"].endswith("/workflow-not-found")
        assert recorded(engine) == before


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("reason=", "reason"),
        ("reason=a%00b", "reason"),
        ("reason=" + "x" * 1025, "reason"),
    ],
)
def test_a_bad_reason_is_a_422_at_reason_and_records_nothing(query: str, loc: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.delete(f"/v1/workflows/etl?{query}")

        assert locs(problem(response, 422)) == [loc]
        assert recorded(engine) == before


@pytest.mark.parametrize("path_name", ["a%20b", "etl%0A", "a" * 65, "-x", "%00"])
def test_retiring_a_malformed_name_is_a_422_at_name(path_name: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.delete(f"/v1/workflows/{path_name}")

        assert locs(problem(response, 422)) == ["name"]
        assert recorded(engine) == 0


def test_a_reason_that_is_not_valid_utf8_is_kept_with_replacement_characters() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        response = client.delete("/v1/workflows/etl?reason=%ED%A0%80%FF")

        assert response.status_code == 204
        assert set(client.get("/v1/workflows/etl").json()["retired_reason"]) == {"\ufffd"}
