"""Execution semantics across real processes: DAG fan-out and fan-in, failures and re-runs."""

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.rig import Deployment, wait_for

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


def test_outputs_flow_from_a_task_to_the_tasks_that_depend_on_it(deployment: Deployment) -> None:
    deployment.start("w1")
    deployment.apply(
        "outputs",
        [
            {"name": "a", "command": 'echo \'{"rows": 42}\' > "$LEDGERFLOW_OUTPUT"'},
            {
                "name": "b",
                "command": 'echo "$LEDGERFLOW_UPSTREAM"; echo "$LEDGERFLOW_INPUTS"',
                "depends_on": ["a"],
            },
        ],
    )

    run = deployment.wait_until(deployment.start_run("outputs", {"day": "monday"}))

    assert run["status"] == "succeeded"
    a, b = run["tasks"]
    assert a["output"] == {"rows": 42}
    upstream, inputs = b["stdout_tail"].splitlines()
    assert json.loads(upstream) == {"a": {"rows": 42}}
    assert json.loads(inputs) == {"day": "monday"}


def test_a_task_past_its_timeout_is_killed_with_its_children_and_retried(
    deployment: Deployment,
) -> None:
    deployment.start("w1")
    pids = deployment.logs / "pids"
    deployment.apply(
        "slow",
        [
            {
                "name": "a",
                # The first attempt starts a grandchild and hangs; the second finishes at once.
                "command": f'if [ "$LEDGERFLOW_ATTEMPT" = 1 ]; then sleep 300 & echo $! >> {pids}; '
                "sleep 300; fi",
                "timeout_seconds": 1,
                "retry": {"max_attempts": 2, "initial_seconds": 0},
            }
        ],
    )

    run = deployment.wait_until(deployment.start_run("slow"))

    assert run["status"] == "succeeded"
    assert run["tasks"][0]["attempt"] == 2
    types = [item["type"] for item in deployment.history(run["id"])]
    assert types.count("TaskTimedOut") == 1
    assert types.index("TaskTimedOut") < types.index("TaskRetryScheduled")
    grandchild = int(pids.read_text().split()[0])
    assert not process_alive(grandchild)


def test_cancelling_a_running_run_kills_its_task_and_ends_the_run(deployment: Deployment) -> None:
    deployment.start("w1")
    deployment.apply(
        "long",
        [
            {"name": "a", "command": "sleep 299"},
            {"name": "b", "command": "echo never", "depends_on": ["a"]},
        ],
    )
    run_id = deployment.start_run("long")
    deployment.wait_for_task(run_id, "a", "running")

    response = deployment.http.post(f"/v1/runs/{run_id}/cancel", json={"reason": "enough"})

    assert response.status_code == 202
    run = deployment.run(run_id)
    assert (run["status"], run["reason"]) == ("cancelled", "enough")
    assert [task["status"] for task in run["tasks"]] == ["cancelled", "cancelled"]
    wait_for(lambda: "sleep 299" not in running_commands(), "the task was not killed")
    again = deployment.http.post(f"/v1/runs/{run_id}/cancel")
    assert again.status_code == 409


def process_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie waiting to be reaped is dead


def running_commands() -> str:
    result = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True, check=True)
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith("Z"))
