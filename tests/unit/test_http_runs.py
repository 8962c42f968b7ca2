"""The runs resource over HTTP: start (idempotently), read and cancel runs; refuse bad requests."""

from uuid import uuid4

import pytest

from tests.unit.test_http_builders import (
    a_client,
    a_registered_workflow,
    a_spec,
    a_started_run,
    an_engine,
    locs,
    problem,
    raw_json,
    recorded,
)


def test_starting_a_run_answers_202_with_the_run_and_where_to_find_it() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        response = client.post("/v1/workflows/etl/runs", json={"inputs": {"date": "2024-05-01"}})

        assert response.status_code == 202
        run = response.json()
        assert response.headers["location"] == f"/v1/runs/{run['id']}"
        assert run["links"] == {
            "self": f"/v1/runs/{run['id']}",
            "events": f"/v1/runs/{run['id']}/events",
        }
        assert (run["workflow"], run["workflow_version"], run["status"]) == ("etl", 1, "queued")
        assert (run["trigger"], run["inputs"]) == ("api", {"date": "2024-05-01"})


def test_a_new_run_lists_its_tasks_in_definition_order_with_only_the_root_queued() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        run = a_started_run(client, "etl")

        assert [(t["name"], t["status"], t["attempt"]) for t in run["tasks"]] == [
            ("extract", "queued", 1),
            ("transform", "pending", 0),
            ("load", "pending", 0),
        ]
        assert run["tasks"][2]["depends_on"] == ["transform"]


def test_a_run_pins_the_workflows_current_version() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        client.put("/v1/workflows/etl", json=a_spec("etl", description="v2"))

        run = a_started_run(client, "etl")

        assert run["workflow_version"] == 2


def test_a_run_can_be_started_without_a_body() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        response = client.post("/v1/workflows/etl/runs")

        assert response.status_code == 202
        assert response.json()["inputs"] == {}


def test_starting_a_run_of_an_unknown_workflow_is_a_404_and_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/workflows/nope/runs", json={})

        assert problem(response, 404)["type"].endswith("/workflow-not-found")
        assert recorded(engine) == 0


def test_a_retried_start_with_the_same_idempotency_key_returns_the_same_run() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        key = {"Idempotency-Key": "deploy-42"}
        first = client.post("/v1/workflows/etl/runs", json={"inputs": {"a": 1}}, headers=key)
        before = recorded(engine)

        again = client.post("/v1/workflows/etl/runs", json={"inputs": {"a": 1}}, headers=key)

        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == first.headers["location"]
        assert recorded(engine) == before


def test_an_idempotency_key_reused_with_another_body_is_a_409_and_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        key = {"Idempotency-Key": "deploy-42"}
        client.post("/v1/workflows/etl/runs", json={"inputs": {"a": 1}}, headers=key)
        before = recorded(engine)

        response = client.post("/v1/workflows/etl/runs", json={"inputs": {"a": 2}}, headers=key)

        assert problem(response, 409)["type"].endswith("/idempotency-key-reused")
        assert recorded(engine) == before


@pytest.mark.parametrize(
    "key",
    [b"", b"has space", b"k" * 256, b"cl\xc3\xa9", b"tab\there"],
    ids=["empty", "space", "too-long", "non-ascii", "control"],
)
def test_a_malformed_idempotency_key_is_refused_by_its_header_name(key: bytes) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.post("/v1/workflows/etl/runs", json={}, headers={b"Idempotency-Key": key})

        assert locs(problem(response, 422)) == ["Idempotency-Key"]
        assert recorded(engine) == before


@pytest.mark.parametrize("inputs", [[1, 2], "text", 42, None])
def test_inputs_that_are_not_a_json_object_are_refused(inputs: object) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.post("/v1/workflows/etl/runs", json={"inputs": inputs})

        assert locs(problem(response, 422)) == ["inputs"]
        assert recorded(engine) == before


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"inputs": {"a": "x\u0000y"}}',
        rb'{"inputs": {"a\u0000": 1}}',
        rb'{"inputs": {"a": ["ok", {"b": "\ud800"}]}}',
        rb'{"inputs": {"\udc00": 1}}',
    ],
    ids=["nul-value", "nul-key", "deep-surrogate-value", "surrogate-key"],
)
def test_inputs_with_nul_characters_or_lone_surrogates_are_refused(raw: bytes) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = raw_json(client, "/v1/workflows/etl/runs", raw)

        assert locs(problem(response, 422)) == ["inputs"]
        assert recorded(engine) == before


def test_inputs_over_256_kib_are_refused() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.post("/v1/workflows/etl/runs", json={"inputs": {"a": "x" * 262_144}})

        body = problem(response, 422)
        assert locs(body) == ["inputs"]
        assert "262144" in body["errors"][0]["msg"]
        assert recorded(engine) == before


def test_a_server_owned_field_in_a_run_request_is_refused_by_name() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.post("/v1/workflows/etl/runs", json={"status": "succeeded"})

        assert locs(problem(response, 422)) == ["status"]
        assert recorded(engine) == before


def test_reading_a_run_shows_it_as_it_was_started() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl", inputs={"a": 1})

        response = client.get(f"/v1/runs/{run['id']}")

        assert response.status_code == 200
        assert response.json() == run


def test_a_run_shows_every_field_of_its_tasks() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl")

        task = client.get(f"/v1/runs/{run['id']}").json()["tasks"][0]

        assert set(task) == {
            *("name", "status", "attempt", "queue", "worker", "exit_code", "error", "reason"),
            *("cause", "retry_at", "reused_from"),
            *("output", "stdout_tail", "stderr_tail", "queued_at", "started_at", "finished_at"),
            "depends_on",
        }
        assert task["queued_at"] is not None


def test_reading_an_unknown_run_is_a_404() -> None:
    with a_client() as client:
        response = client.get(f"/v1/runs/{uuid4()}")

        assert problem(response, 404)["type"].endswith("/run-not-found")


@pytest.mark.parametrize(
    "run_id", ["not-a-uuid", "1234", "%20", "00000000-0000-0000-0000-00000000000g"]
)
def test_a_malformed_run_id_is_a_422_at_run_id(run_id: str) -> None:
    with a_client() as client:
        response = client.get(f"/v1/runs/{run_id}")

        assert locs(problem(response, 422)) == ["run_id"]


def test_cancelling_a_run_answers_202_with_the_run_cancelled_for_the_reason_given() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl")

        response = client.post(f"/v1/runs/{run['id']}/cancel", json={"reason": "wrong date"})

        assert response.status_code == 202
        cancelled = response.json()
        assert (cancelled["status"], cancelled["reason"]) == ("cancelled", "wrong date")
        assert {task["status"] for task in cancelled["tasks"]} == {"cancelled"}
        assert cancelled["finished_at"] is not None


def test_cancelling_without_a_body_gives_a_default_reason() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl")

        response = client.post(f"/v1/runs/{run['id']}/cancel")

        assert response.status_code == 202
        assert response.json()["reason"]


def test_cancelling_a_finished_run_is_a_409_and_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl")
        client.post(f"/v1/runs/{run['id']}/cancel")
        before = recorded(engine)

        response = client.post(f"/v1/runs/{run['id']}/cancel")

        assert problem(response, 409)["type"].endswith("/run-finished")
        assert recorded(engine) == before


def test_cancelling_an_unknown_run_is_a_404_and_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post(f"/v1/runs/{uuid4()}/cancel")

        problem(response, 404)
        assert recorded(engine) == 0


@pytest.mark.parametrize(
    "raw",
    [b'{"reason": ""}', b'{"reason": "a\\u0000b"}', b'{"reason": "\\ud800"}', b'{"reason": 5}'],
    ids=["empty", "nul", "surrogate", "not-a-string"],
)
def test_an_unusable_cancel_reason_is_refused(raw: bytes) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        run = a_started_run(client, "etl")
        before = recorded(engine)

        response = raw_json(client, f"/v1/runs/{run['id']}/cancel", raw)

        assert locs(problem(response, 422)) == ["reason"]
        assert recorded(engine) == before
