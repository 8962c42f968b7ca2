"""`POST /v1/runs/{id}/fork?from_version=N`: a new run from a run's state at one of its versions."""

from typing import Any
from uuid import uuid4

import pytest

from tests.unit.test_http_builders import (
    Client,
    a_client,
    a_registered_workflow,
    a_started_run,
    an_engine,
    locs,
    problem,
    recorded,
)
from tests.unit.test_http_retry import a_failed_run, report

# a_failed_run: 1 RunStarted, 2 TaskQueued extract, 3 TaskSucceeded extract,
# 4 TaskQueued transform, 5 TaskFailed transform, 6 TaskSkipped load, 7 RunFailed
EXTRACT_SUCCEEDED = 3


def fork(client: Client, run_id: object, version: int | str, **headers: str) -> Any:
    return client.post(f"/v1/runs/{run_id}/fork", params={"from_version": version}, headers=headers)


def test_forking_from_a_version_reuses_what_had_succeeded_by_then() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        failed = a_failed_run(engine, client)

        response = fork(client, failed["id"], EXTRACT_SUCCEEDED)

        assert response.status_code == 202, response.text
        child = response.json()
        assert response.headers["location"] == f"/v1/runs/{child['id']}"
        assert (child["trigger"], child["retry_of"]) == ("fork", None)
        assert child["forked_from"] == {"run_id": failed["id"], "from_version": 3}
        extract, transform, load = child["tasks"]
        assert (extract["status"], extract["reused_from"]) == ("succeeded", failed["id"])
        assert extract["output"] == {"rows": 3}
        assert (transform["status"], load["status"]) == ("queued", "pending")


def test_forking_from_the_first_event_runs_everything_again() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        failed = a_failed_run(engine, client)

        child = fork(client, failed["id"], 1).json()

        assert [task["status"] for task in child["tasks"]] == ["queued", "pending", "pending"]
        assert all(task["reused_from"] is None for task in child["tasks"])


def test_both_histories_show_the_link_and_the_parent_changes_in_nothing_else() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client)
        running = a_started_run(client)
        engine.record_reports([report(running, "extract", "succeeded")])
        before = client.get(f"/v1/runs/{running['id']}").json()

        child = fork(client, running["id"], 2).json()

        parent = client.get(f"/v1/runs/{running['id']}").json()
        assert parent["forked_by"] == [{"run_id": child["id"], "from_version": 2}]
        assert {**parent, "version": 0, "forked_by": []} == {**before, "version": 0}
        items = client.get(f"/v1/runs/{running['id']}/events").json()["items"]
        assert (items[-1]["type"], items[-1]["data"]) == (
            "RunForked",
            {"fork_run_id": child["id"], "from_version": 2},
        )
        child_items = client.get(f"/v1/runs/{child['id']}/events").json()["items"]
        assert [item["type"] for item in child_items[:2]] == ["RunStarted", "RunForkedFrom"]
        assert child_items[1]["data"] == {"from_run": running["id"], "from_version": 2}


def test_a_repeated_idempotency_key_returns_the_fork_it_started() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        failed = a_failed_run(engine, client)
        first = fork(client, failed["id"], 3, **{"Idempotency-Key": "fork-1"})
        count = recorded(engine)

        again = fork(client, failed["id"], 3, **{"Idempotency-Key": "fork-1"})
        other = fork(client, failed["id"], 2, **{"Idempotency-Key": "fork-1"})

        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["id"] == first.json()["id"]
        assert problem(other, 409)["type"].endswith("/idempotency-key-reused")
        assert recorded(engine) == count


@pytest.mark.parametrize("version", [0, -3, 8, "x", ""])
def test_a_version_outside_the_runs_history_is_a_422_naming_from_version(
    version: int | str,
) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        failed = a_failed_run(engine, client)
        before = recorded(engine)

        response = fork(client, failed["id"], version)

        assert locs(problem(response, 422)) == ["from_version"]
        assert recorded(engine) == before


def test_a_fork_without_a_version_is_refused_naming_from_version() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        failed = a_failed_run(engine, client)

        response = client.post(f"/v1/runs/{failed['id']}/fork")

        assert "from_version" in problem(response, 422)["detail"]


def test_forking_an_unknown_run_is_a_404() -> None:
    with a_client() as client:
        response = fork(client, uuid4(), 1)

        assert problem(response, 404)["type"].endswith("/run-not-found")


def test_a_malformed_run_id_is_a_422_at_run_id() -> None:
    with a_client() as client:
        response = fork(client, "not-a-uuid", 1)

        assert locs(problem(response, 422)) == ["run_id"]
