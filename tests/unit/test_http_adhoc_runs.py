"""Ad-hoc runs over HTTP: run an inline definition without registering it; refuse bad ones."""

from typing import Any

import pytest

from tests.unit.test_http_builders import (
    Client,
    a_client,
    a_registered_workflow,
    a_spec,
    an_engine,
    locs,
    problem,
    raw_json,
    recorded,
)


def an_adhoc_run(client: Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/runs", json={"workflow": a_spec("one-off"), **body})
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    return run


def test_an_adhoc_run_answers_202_with_the_run_and_where_to_find_it() -> None:
    with a_client() as client:
        response = client.post(
            "/v1/runs", json={"workflow": a_spec("one-off"), "inputs": {"date": "2024-05-01"}}
        )

        assert response.status_code == 202
        run = response.json()
        assert response.headers["location"] == f"/v1/runs/{run['id']}"
        assert (run["workflow"], run["workflow_version"], run["trigger"]) == ("one-off", 0, "adhoc")
        assert (run["status"], run["inputs"]) == ("queued", {"date": "2024-05-01"})
        assert [(t["name"], t["status"]) for t in run["tasks"]] == [
            ("extract", "queued"),
            ("transform", "pending"),
            ("load", "pending"),
        ]


def test_an_adhoc_run_registers_no_workflow() -> None:
    with a_client() as client:
        an_adhoc_run(client)

        response = client.get("/v1/workflows/one-off")

        assert problem(response, 404)["type"].endswith("/workflow-not-found")


def test_an_adhoc_run_reads_back_as_it_was_started() -> None:
    with a_client() as client:
        run = an_adhoc_run(client, inputs={"a": 1})

        response = client.get(f"/v1/runs/{run['id']}")

        assert response.status_code == 200
        assert response.json() == run


def test_an_adhoc_run_may_share_its_name_with_a_retired_workflow() -> None:
    with a_client() as client:
        a_registered_workflow(client, "one-off")
        client.delete("/v1/workflows/one-off")

        run = an_adhoc_run(client)

        assert (run["workflow"], run["workflow_version"]) == ("one-off", 0)


def test_a_replayed_adhoc_run_with_the_same_key_and_body_returns_the_same_run() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        body = {"workflow": a_spec("one-off"), "inputs": {"a": 1}}
        key = {"Idempotency-Key": "adhoc-1"}
        first = client.post("/v1/runs", json=body, headers=key)
        before = recorded(engine)

        again = client.post("/v1/runs", json=body, headers=key)

        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == first.headers["location"]
        assert recorded(engine) == before


@pytest.mark.parametrize(
    "other",
    [
        {"workflow": a_spec("one-off"), "inputs": {"a": 2}},
        {"workflow": a_spec("one-off", description="changed"), "inputs": {"a": 1}},
        {"workflow": a_spec("another"), "inputs": {"a": 1}},
    ],
    ids=["other-inputs", "other-definition", "other-name"],
)
def test_an_idempotency_key_reused_with_another_adhoc_body_is_a_409(other: Any) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        key = {"Idempotency-Key": "adhoc-1"}
        client.post(
            "/v1/runs", json={"workflow": a_spec("one-off"), "inputs": {"a": 1}}, headers=key
        )
        before = recorded(engine)

        response = client.post("/v1/runs", json=other, headers=key)

        assert problem(response, 409)["type"].endswith("/idempotency-key-reused")
        assert recorded(engine) == before


def test_a_key_that_started_a_registered_workflows_run_is_a_409_for_an_adhoc_one() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        key = {"Idempotency-Key": "k-1"}
        client.post("/v1/workflows/etl/runs", json={}, headers=key)
        before = recorded(engine)

        response = client.post("/v1/runs", json={"workflow": a_spec("etl")}, headers=key)

        assert problem(response, 409)["type"].endswith("/idempotency-key-reused")
        assert recorded(engine) == before


def test_an_adhoc_run_can_be_cancelled_and_retried() -> None:
    with a_client() as client:
        run = an_adhoc_run(client)
        client.post(f"/v1/runs/{run['id']}/cancel").raise_for_status()

        response = client.post(f"/v1/runs/{run['id']}/retry")

        assert response.status_code == 202
        retry = response.json()
        assert (retry["workflow"], retry["workflow_version"], retry["trigger"]) == (
            "one-off",
            0,
            "retry",
        )
        assert retry["retry_of"] == run["id"]


def test_a_cycle_in_the_inline_definition_is_a_422_located_in_the_body() -> None:
    engine = an_engine()
    tasks = [
        {"name": "a", "executor": "noop", "depends_on": ["b"]},
        {"name": "b", "executor": "noop", "depends_on": ["a"]},
    ]
    with a_client(engine) as client:
        response = client.post("/v1/runs", json={"workflow": a_spec(tasks=tasks)})

        body = problem(response, 422)
        assert body["type"].endswith("/invalid-workflow")
        assert locs(body) == ["workflow.tasks[0].depends_on"]
        assert "cycle" in body["errors"][0]["msg"]
        assert recorded(engine) == 0


def test_an_unknown_dependency_in_the_inline_definition_is_located_at_its_task() -> None:
    tasks = [
        {"name": "a", "executor": "noop"},
        {"name": "b", "executor": "noop", "depends_on": ["nope"]},
    ]
    with a_client() as client:
        response = client.post("/v1/runs", json={"workflow": a_spec(tasks=tasks)})

        assert locs(problem(response, 422)) == ["workflow.tasks[1].depends_on"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, "workflow"),
        ({"inputs": {}}, "workflow"),
        ({"workflow": a_spec(), "status": "succeeded"}, "status"),
        ({"workflow": a_spec(version=3)}, "workflow.version"),
        ({"workflow": "etl"}, "workflow"),
        ({"workflow": a_spec(), "inputs": [1]}, "inputs"),
        ({"workflow": a_spec(name="")}, "workflow.name"),
        ({"workflow": a_spec(name="  ")}, "workflow.name"),
        ({"workflow": a_spec(name="a b")}, "workflow.name"),
        ({"workflow": a_spec(tasks=[])}, "workflow.tasks"),
        ({"workflow": a_spec(tasks=[{"name": "a", "executor": "noop", "command": "x"}])}, None),
        ({"workflow": a_spec(tasks=[{"name": "a", "timeout_seconds": "soon"}])}, None),
    ],
    ids=[
        "empty",
        "no-workflow",
        "unknown-field",
        "server-owned-spec-field",
        "workflow-not-an-object",
        "inputs-not-an-object",
        "empty-name",
        "blank-name",
        "name-with-space",
        "no-tasks",
        "foreign-executor-field",
        "wrong-type",
    ],
)
def test_a_bad_adhoc_request_is_a_422_naming_the_field(body: Any, loc: str | None) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/runs", json=body)

        found = locs(problem(response, 422))
        assert found
        if loc is not None:
            assert found == [loc]
        assert all(found_loc.startswith(("workflow", "inputs", "status")) for found_loc in found)
        assert recorded(engine) == 0


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (
            rb'{"workflow": {"name": "a\u0000b", "tasks": [{"name": "t", "executor": "noop"}]}}',
            "workflow.name",
        ),
        (
            rb'{"workflow": {"name": "w", "description": "x\u0000", "tasks": '
            rb'[{"name": "t", "executor": "noop"}]}}',
            "workflow.description",
        ),
        (
            rb'{"workflow": {"name": "w", "tasks": [{"name": "t", "command": "echo \u0000"}]}}',
            "workflow.tasks[0].command",
        ),
        (
            rb'{"workflow": {"name": "w", "tasks": [{"name": "t", "executor": "noop"}]}, '
            rb'"inputs": {"k": "\u0000"}}',
            "inputs",
        ),
        (
            rb'{"workflow": {"name": "w", "tasks": [{"name": "t", "executor": "noop"}]}, '
            rb'"inputs": {"\ud800": 1}}',
            "inputs",
        ),
    ],
    ids=["nul-name", "nul-description", "nul-command", "nul-input", "surrogate-input-key"],
)
def test_nul_characters_and_lone_surrogates_are_a_422(raw: bytes, loc: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = raw_json(client, "/v1/runs", raw)

        assert locs(problem(response, 422)) == [loc]
        assert recorded(engine) == 0


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b'{"workflow": ', 400), (b"[" * 100 + b"]" * 100, 400), (b"null", 422)],
    ids=["truncated", "too-deep", "null"],
)
def test_a_malformed_body_is_a_4xx_problem(raw: bytes, status: int) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = raw_json(client, "/v1/runs", raw)

        problem(response, status)
        assert recorded(engine) == 0


def test_a_body_that_is_not_json_is_a_415() -> None:
    with a_client() as client:
        response = client.post(
            "/v1/runs", content=b"workflow=x", headers={"Content-Type": "text/plain"}
        )

        problem(response, 415)


def test_a_malformed_idempotency_key_is_refused_by_its_header_name() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post(
            "/v1/runs", json={"workflow": a_spec()}, headers={"Idempotency-Key": "has space"}
        )

        assert locs(problem(response, 422)) == ["Idempotency-Key"]
        assert recorded(engine) == 0
