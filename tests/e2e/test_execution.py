"""Execution semantics across real processes: DAG fan-out and fan-in, failures and re-runs."""

from collections import Counter

import pytest

from tests.e2e.rig import Deployment

pytestmark = pytest.mark.e2e

TERMINAL_EVENTS = {"TaskSucceeded", "TaskFailed", "TaskTimedOut"}


def terminal_events_per_attempt(history: list[dict[str, object]]) -> Counter[tuple[object, object]]:
    return Counter(
        (item["data"]["task"], item["data"]["attempt"])  # type: ignore[index]
        for item in history
        if item["type"] in TERMINAL_EVENTS
    )


def test_a_fan_out_and_fan_in_completes_with_no_lost_update(deployment: Deployment) -> None:
    deployment.start("w1", "w2")
    middle = [{"name": f"m{i}", "executor": "noop", "depends_on": ["root"]} for i in range(20)]
    join = {"name": "join", "executor": "noop", "depends_on": [f"m{i}" for i in range(20)]}
    deployment.apply("fan", [{"name": "root", "executor": "noop"}, *middle, join])

    run_ids = [deployment.start_run("fan") for _ in range(3)]

    for run_id in run_ids:
        run = deployment.wait_until(run_id)
        assert run["status"] == "succeeded"
        assert {task["status"] for task in run["tasks"]} == {"succeeded"}
        counts = terminal_events_per_attempt(deployment.history(run_id))
        assert set(counts.values()) == {1}
        assert len(counts) == 22


def test_a_failed_run_retried_reruns_only_what_did_not_succeed(deployment: Deployment) -> None:
    deployment.start("w1")
    marker = deployment.logs / "second-time"
    deployment.apply(
        "flaky",
        [
            {"name": "a", "command": "echo a"},
            # Fails the first time only: the retried run finds the marker file.
            {
                "name": "b",
                "command": f"test -e {marker} || (touch {marker}; exit 3)",
                "depends_on": ["a"],
            },
        ],
    )
    failed = deployment.wait_until(deployment.start_run("flaky"))
    assert failed["status"] == "failed"

    retry = deployment.http.post(f"/v1/runs/{failed['id']}/retry").json()

    rerun = deployment.wait_until(retry["id"])
    assert rerun["status"] == "succeeded"
    assert rerun["retry_of"] == failed["id"]
    assert rerun["tasks"][0]["reused_from"] == failed["id"]
    assert [item["type"] for item in deployment.history(failed["id"])][-1] == "RunRetried"
