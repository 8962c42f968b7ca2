"""Bad execution settings in a definition: retry, timeout, executors — a 422 at the field."""

from typing import Any

import pytest

from tests.unit.test_http_builders import a_client, a_spec, an_engine, locs, problem, recorded


def one_task(**fields: Any) -> dict[str, Any]:
    return a_spec(tasks=[{"name": "a", **fields}])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (one_task(command="x", retry={"max_attempts": 0}), "tasks[0].retry.max_attempts"),
        (one_task(command="x", retry={"max_attempts": 101}), "tasks[0].retry.max_attempts"),
        (one_task(command="x", retry={"max_attempts": 2.5}), "tasks[0].retry.max_attempts"),
        (one_task(command="x", retry={"max_attempts": True}), "tasks[0].retry.max_attempts"),
        (one_task(command="x", retry={"initial_seconds": -1}), "tasks[0].retry.initial_seconds"),
        (one_task(command="x", retry={"factor": 0.5}), "tasks[0].retry.factor"),
        (one_task(command="x", retry={"backoff": "linear"}), "tasks[0].retry.backoff"),
        (one_task(command="x", retry={"retry_on": ["bored"]}), "tasks[0].retry.retry_on[0]"),
        (one_task(command="x", retry={"tries": 3}), "tasks[0].retry.tries"),
        (a_spec(retry={"max_delay_seconds": 10**9}), "retry.max_delay_seconds"),
        (one_task(command="x", timeout_seconds=0), "tasks[0].timeout_seconds"),
        (one_task(command="x", timeout_seconds=10**9), "tasks[0].timeout_seconds"),
        (one_task(command="x", timeout_seconds="60"), "tasks[0].timeout_seconds"),
        (one_task(command="x", timeout_seconds=True), "tasks[0].timeout_seconds"),
        (one_task(command="x", trigger_rule="sometimes"), "tasks[0].trigger_rule"),
        (one_task(executor="docker", command="x"), "tasks[0].executor"),
        (one_task(executor="python", target="no_colon"), "tasks[0].target"),
        (one_task(executor="python", target="pkg.mod:"), "tasks[0].target"),
        (one_task(executor="python", target="os:system; rm"), "tasks[0].target"),
        (one_task(executor="http", url="ftp://example.com/x"), "tasks[0].url"),
        (one_task(executor="http", url="file:///etc/passwd"), "tasks[0].url"),
        (one_task(executor="http", url="https://x.dev", method="TRACE"), "tasks[0].method"),
        (
            one_task(executor="http", url="https://x.dev", expected_status=[999]),
            "tasks[0].expected_status[0]",
        ),
        (one_task(command="x", env={"1BAD": "v"}), "tasks[0].env.1BAD"),
        (one_task(command="x", env={"TOKEN": {"secret": "bad name"}}), "tasks[0].env.TOKEN"),
    ],
)
def test_a_bad_execution_setting_is_a_422_at_its_path(body: dict[str, Any], loc: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=body)

        assert loc in " ".join(locs(problem(response, 422)))
        assert recorded(engine) == 0


@pytest.mark.parametrize(
    "task",
    [
        {"name": "a", "executor": "python"},
        {"name": "a", "executor": "http"},
        {"name": "a", "executor": "shell"},
        {"name": "a", "executor": "noop", "command": "echo"},
        {"name": "a", "executor": "shell", "command": "x", "target": "m:f"},
        {"name": "a", "executor": "python", "target": "m:f", "url": "https://x.dev"},
    ],
    ids=[
        "python-no-target",
        "http-no-url",
        "shell-no-command",
        "noop-command",
        "shell-target",
        "python-url",
    ],
)
def test_an_executor_without_its_fields_or_with_anothers_is_a_422_at_the_task(
    task: dict[str, Any],
) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=[task]))

        assert locs(problem(response, 422)) == ["tasks[0]"]
        assert recorded(engine) == 0


def test_every_executor_with_its_fields_is_accepted() -> None:
    tasks = [
        {"name": "s", "command": "echo $1", "args": ["x"], "env": {"T": {"secret": "TOKEN"}}},
        {"name": "p", "executor": "python", "target": "pkg.tasks:load"},
        {"name": "h", "executor": "http", "url": "https://example.com/hook", "method": "POST",
         "body": {"k": 1}, "expected_status": [200, 202]},
        {"name": "n", "executor": "noop", "trigger_rule": "all_done", "depends_on": ["s", "p", "h"],
         "retry": {"max_attempts": 3, "backoff": "fixed", "initial_seconds": 5}},
    ]  # fmt: skip
    with a_client() as client:
        response = client.post("/v1/workflows", json=a_spec(tasks=tasks))

        assert response.status_code == 201
