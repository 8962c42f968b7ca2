"""The typed API client against the real app: workflows, runs, history, and errors as ApiError."""

import httpx
import pytest

from gateways.client.address import DEFAULT_API_URL, base_url
from gateways.client.api import LedgerflowClient
from gateways.client.errors import ApiError, ApiUnreachableError, FieldError
from tests.unit.client_rig import API_URL, Unreachable, an_api
from tests.unit.test_http_builders import a_spec

UNKNOWN_RUN = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"


def test_apply_creates_then_changes_nothing_then_revises() -> None:
    with an_api() as api, api.client() as client:
        created = client.apply_workflow(a_spec("etl"))
        unchanged = client.apply_workflow(a_spec("etl"))
        revised = client.apply_workflow(a_spec("etl", description="now described"))

    assert (created["applied"], created["version"]) == ("created", 1)
    assert (unchanged["applied"], unchanged["version"]) == ("unchanged", 1)
    assert (revised["applied"], revised["version"]) == ("revised", 2)


def test_a_workflow_reads_back_at_its_current_and_past_versions() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))
        client.apply_workflow(a_spec("etl", description="v2"))

        current = client.get_workflow("etl")
        first = client.get_workflow("etl", version=1)

    assert (current["version"], current["description"]) == (2, "v2")
    assert (first["version"], first["current_version"], first["description"]) == (1, 2, "")
    assert [task["name"] for task in first["tasks"]] == ["extract", "transform", "load"]


def test_registering_a_name_twice_is_an_api_error_409_with_the_problem_fields() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))

        with pytest.raises(ApiError) as raised:
            client.create_workflow(a_spec("etl"))

    error = raised.value
    assert (error.status, error.title) == (409, "Workflow already exists")
    assert error.type == "https://ledgerflow.dev/problems/workflow-exists"
    assert error.detail == "workflow 'etl' already exists"
    assert str(error) == "409 Workflow already exists: workflow 'etl' already exists"


def test_an_unknown_workflow_is_an_api_error_404() -> None:
    with an_api() as api, api.client() as client, pytest.raises(ApiError) as raised:
        client.get_workflow("nope")

    assert raised.value.status == 404
    assert "nope" in raised.value.detail


def test_an_invalid_definition_is_an_api_error_422_locating_each_field() -> None:
    spec = a_spec("etl", tasks=[{"name": "a", "command": "x", "depends_on": ["ghost"]}])

    with an_api() as api, api.client() as client, pytest.raises(ApiError) as raised:
        client.apply_workflow(spec)

    error = raised.value
    assert error.status == 422
    assert [e.loc for e in error.errors] == ["tasks[0].depends_on"]
    assert "tasks[0].depends_on: " in str(error)


def test_a_definition_without_a_name_is_refused_before_any_request() -> None:
    with an_api() as api, api.client() as client, pytest.raises(ValueError, match="no `name`"):
        client.apply_workflow({"tasks": []})


def test_a_started_run_reads_back_with_its_inputs_and_tasks() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))

        started = client.start_run("etl", {"date": "2026-05-01", "rows": 3})
        run = client.get_run(started["id"])

    assert run["id"] == started["id"]
    assert (run["workflow"], run["workflow_version"], run["status"]) == ("etl", 1, "queued")
    assert run["inputs"] == {"date": "2026-05-01", "rows": 3}
    assert [task["status"] for task in run["tasks"]] == ["queued", "pending", "pending"]


def test_the_same_idempotency_key_returns_the_same_run_and_another_body_is_409() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))
        first = client.start_run("etl", {"n": 1}, idempotency_key="deploy-42")
        again = client.start_run("etl", {"n": 1}, idempotency_key="deploy-42")

        with pytest.raises(ApiError) as raised:
            client.start_run("etl", {"n": 2}, idempotency_key="deploy-42")

    assert again["id"] == first["id"]
    assert raised.value.status == 409
    assert raised.value.type.endswith("/idempotency-key-reused")


def test_a_run_of_an_unknown_workflow_is_an_api_error_404() -> None:
    with an_api() as api, api.client() as client, pytest.raises(ApiError) as raised:
        client.start_run("ghost")

    assert raised.value.status == 404


def test_an_unknown_run_is_an_api_error_404_and_a_malformed_id_a_422() -> None:
    with an_api() as api, api.client() as client:
        with pytest.raises(ApiError) as unknown:
            client.get_run(UNKNOWN_RUN)
        with pytest.raises(ApiError) as malformed:
            client.get_run("not-a-uuid")

    assert (unknown.value.status, unknown.value.title) == (404, "Run not found")
    assert malformed.value.status == 422
    assert malformed.value.errors == (FieldError("run_id", "Invalid UUID"),)


def test_a_cancelled_run_cannot_be_cancelled_again_but_can_be_retried() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))
        run = client.start_run("etl")
        cancelled = client.cancel_run(run["id"], reason="wrong date")
        with pytest.raises(ApiError) as again:
            client.cancel_run(run["id"])

        retry = client.retry_run(run["id"])

    assert (cancelled["status"], cancelled["reason"]) == ("cancelled", "wrong date")
    assert again.value.status == 409
    assert retry["retry_of"] == run["id"]
    assert retry["id"] != run["id"]


def test_retrying_a_succeeded_run_is_an_api_error_409() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))
        run = client.start_run("etl")
        api.finish(run["id"])

        with pytest.raises(ApiError) as raised:
            client.retry_run(run["id"])

    assert raised.value.status == 409


def test_the_history_generator_follows_every_page_in_order() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))
        run = client.start_run("etl")
        api.finish(run["id"])

        first = client.run_events(run["id"], limit=2)
        events = list(client.iter_run_events(run["id"], limit=2))

    assert len(first["items"]) == 2
    assert first["next_cursor"] is not None
    assert [event["version"] for event in events] == list(range(1, len(events) + 1))
    assert (events[0]["type"], events[-1]["type"]) == ("RunStarted", "RunSucceeded")


def test_headers_given_to_the_client_reach_the_api() -> None:
    with an_api() as api, api.client(headers={"X-Request-Id": "deploy-7"}) as client:
        client.create_workflow(a_spec("etl"))
        run = client.start_run("etl")

        events = list(client.iter_run_events(run["id"]))

    assert {event["correlation_id"] for event in events} == {"deploy-7"}


def test_waiting_returns_the_run_once_finished_and_times_out_otherwise() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))
        done, stuck = client.start_run("etl"), client.start_run("etl")
        api.finish(done["id"], "failed")

        finished = client.wait_for_run(done["id"], timeout=0)
        with pytest.raises(TimeoutError, match="still queued"):
            client.wait_for_run(stuck["id"], timeout=0)

    assert finished["status"] == "failed"


def test_a_refused_connection_is_an_unreachable_error_naming_the_url() -> None:
    client = LedgerflowClient("http://127.0.0.1:9/", transport=Unreachable())

    with pytest.raises(ApiUnreachableError) as raised:
        client.list_workers()

    assert raised.value.refused
    assert raised.value.url == "http://127.0.0.1:9"


def test_an_error_answer_that_is_not_a_problem_keeps_its_status_and_text() -> None:
    response = httpx.Response(502, text="<html>upstream  down</html>")

    error = ApiError.of(response)

    assert (error.status, error.title, error.detail) == (
        502,
        "Bad Gateway",
        "<html>upstream down</html>",
    )
    assert error.errors == ()


def test_the_base_url_comes_from_the_environment_or_defaults_to_the_local_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEDGERFLOW_API_URL", raising=False)
    local = base_url()
    monkeypatch.setenv("LEDGERFLOW_API_URL", API_URL)

    assert local == DEFAULT_API_URL
    assert LedgerflowClient().base_url == API_URL


def test_a_base_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        LedgerflowClient("localhost:8080")


def test_an_adhoc_run_runs_a_definition_without_registering_it() -> None:
    with an_api() as api, api.client() as client:
        run = client.start_adhoc_run(a_spec("once"), {"n": 1}, idempotency_key="once-1")
        again = client.start_adhoc_run(a_spec("once"), {"n": 1}, idempotency_key="once-1")

        with pytest.raises(ApiError) as unregistered:
            client.get_workflow("once")

    assert (run["workflow"], run["workflow_version"], run["trigger"]) == ("once", 0, "adhoc")
    assert again["id"] == run["id"]
    assert unregistered.value.status == 404


def test_a_retired_workflow_starts_no_run_until_it_is_applied_again() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))

        client.retire_workflow("etl", reason="replaced")
        retired = client.get_workflow("etl")
        with pytest.raises(ApiError) as refused:
            client.start_run("etl")
        restored = client.apply_workflow(a_spec("etl"))

    assert (retired["retired"], retired["retired_reason"]) == (True, "replaced")
    assert refused.value.status == 409
    assert restored["applied"] == "revised"


def test_forking_a_run_links_both_runs_and_a_key_makes_it_idempotent() -> None:
    with an_api() as api, api.client() as client:
        client.create_workflow(a_spec("etl"))
        run = client.start_run("etl")

        fork = client.fork_run(run["id"], 1, idempotency_key="k1")
        again = client.fork_run(run["id"], 1, idempotency_key="k1")
        with pytest.raises(ApiError) as beyond:
            client.fork_run(run["id"], 99)
        parent = client.get_run(run["id"])

    assert fork["forked_from"] == {"run_id": run["id"], "from_version": 1}
    assert again["id"] == fork["id"]
    assert parent["forked_by"] == [{"run_id": fork["id"], "from_version": 1}]
    assert (beyond.value.status, beyond.value.errors[0].loc) == (422, "from_version")
