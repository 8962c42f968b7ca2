"""Bad workflow definitions over HTTP: each a 422 naming the field, and nothing recorded."""

from typing import Any

import pytest

from tests.unit.test_http_builders import (
    a_client,
    a_spec,
    an_engine,
    locs,
    problem,
    raw_json,
    recorded,
)


@pytest.mark.parametrize("field", ["version", "status", "tenant", "created_by", "attempt"])
def test_a_server_owned_field_in_a_definition_is_refused_by_name(field: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(**{field: "x"}))

        assert locs(problem(response, 422)) == [field]
        assert recorded(engine) == 0


@pytest.mark.parametrize("field", ["engine", "origin", "tenant"])
def test_a_body_field_named_like_a_handler_dependency_is_a_422_not_a_500(field: str) -> None:
    with a_client() as client:
        response = client.put("/v1/workflows/etl", json=a_spec(**{field: "x"}))

        assert locs(problem(response, 422)) == [field]


def test_a_server_owned_field_in_a_task_is_refused_at_its_path() -> None:
    engine = an_engine()
    spec = a_spec(tasks=[{"name": "a", "command": "true", "status": "succeeded"}])
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=spec)

        assert locs(problem(response, 422)) == ["tasks[0].status"]
        assert recorded(engine) == 0


@pytest.mark.parametrize(
    ("tasks", "loc"),
    [
        ([{"name": "a", "command": "x", "depends_on": ["b"]}, {"name": "b", "command": "y"}], None),
        ([{"name": "a", "command": "x"}, {"name": "b", "command": "y", "depends_on": ["z"]}], 1),
        ([{"name": "a", "command": "x", "depends_on": ["a"]}], 0),
    ],
    ids=["valid-control", "unknown-dependency", "self-loop"],
)
def test_a_dependency_on_an_unknown_task_or_itself_is_located_in_depends_on(
    tasks: list[dict[str, Any]], loc: int | None
) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=tasks))

        if loc is None:
            assert response.status_code == 201
        else:
            body = problem(response, 422)
            assert body["type"].endswith("/invalid-workflow")
            assert locs(body) == [f"tasks[{loc}].depends_on"]
            assert recorded(engine) == 0


def test_a_dependency_cycle_is_a_422_that_names_the_cycle() -> None:
    engine = an_engine()
    tasks = [
        {"name": "a", "command": "x", "depends_on": ["b"]},
        {"name": "b", "command": "y", "depends_on": ["a"]},
    ]
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=tasks))

        body = problem(response, 422)
        assert locs(body) == ["tasks[0].depends_on"]
        assert "cycle" in body["errors"][0]["msg"]
        assert recorded(engine) == 0


def test_duplicate_task_names_are_a_422_at_the_second_one() -> None:
    engine = an_engine()
    tasks = [{"name": "a", "command": "x"}, {"name": "a", "command": "y"}]
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=tasks))

        assert locs(problem(response, 422)) == ["tasks[1].name"]
        assert recorded(engine) == 0


def test_an_invalid_name_in_a_dependency_list_is_located_by_index() -> None:
    engine = an_engine()
    tasks = [{"name": "a", "command": "x"}, {"name": "b", "command": "y", "depends_on": ["a b"]}]
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=tasks))

        assert locs(problem(response, 422)) == ["tasks[1].depends_on[0]"]
        assert recorded(engine) == 0


@pytest.mark.parametrize("name", ["", "a" * 65, "-leading-dash", "has space", "dot.ted", "é"])
def test_an_invalid_workflow_name_is_refused(name: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(name))

        assert locs(problem(response, 422)) == ["name"]
        assert recorded(engine) == 0


@pytest.mark.parametrize("timeout", [-1, 0, 10**12, "soon", None, [1]])
def test_a_task_timeout_that_is_not_a_sane_positive_number_is_refused(timeout: object) -> None:
    engine = an_engine()
    spec = a_spec(tasks=[{"name": "a", "command": "x", "timeout_seconds": timeout}])
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=spec)

        assert locs(problem(response, 422)) == ["tasks[0].timeout_seconds"]
        assert recorded(engine) == 0


ONE_TASK = rb'[{"name": "a", "command": "x"}]'


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (rb'{"name": "etl", "description": "a\u0000b", "tasks": ' + ONE_TASK + b"}", "description"),
        (rb'{"name": "etl", "description": "a\ud800b", "tasks": ' + ONE_TASK + b"}", "description"),
        (rb'{"name": "etl", "tasks": [{"name": "a", "command": "x\u0000"}]}', "tasks[0].command"),
        (rb'{"name": "etl", "tasks": [{"name": "a", "command": "\udfff"}]}', "tasks[0].command"),
    ],
    ids=["nul-description", "surrogate-description", "nul-command", "surrogate-command"],
)
def test_nul_characters_and_lone_surrogates_are_refused_where_they_are(
    raw: bytes, loc: str
) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = raw_json(client, "/v1/workflows", raw)

        assert locs(problem(response, 422)) == [loc]
        assert recorded(engine) == 0


def test_more_than_a_thousand_tasks_are_refused() -> None:
    engine = an_engine()
    tasks = [{"name": f"t{i}", "executor": "noop"} for i in range(1001)]
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=tasks))

        assert locs(problem(response, 422)) == ["tasks"]
        assert recorded(engine) == 0


def test_a_definition_without_tasks_is_refused() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=[]))

        assert locs(problem(response, 422)) == ["tasks"]
        assert recorded(engine) == 0


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'"etl"'])
def test_a_missing_or_non_object_body_is_refused_as_a_whole(body: bytes) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = raw_json(client, "/v1/workflows", body)

        assert locs(problem(response, 422)) == ["body"]
        assert recorded(engine) == 0
