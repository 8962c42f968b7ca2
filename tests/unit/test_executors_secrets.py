"""Secrets named by a spec are resolved on the worker and never reported back."""

import os
from pathlib import Path
from uuid import UUID

from aggregates.spec import TaskSpec
from streams.executors.execution import Execution
from streams.executors.registry import execute
from streams.executors.secrets import scrub_text
from streams.messages import MAX_TAIL_BYTES, ExecuteTask

RESOLVED = "pa55-w0rd-xyz"
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LEDGERFLOW_SECRET_DB_PASSWORD": RESOLVED}


async def shell_with_secret(command: str, name: str = "DB_PASSWORD") -> Execution:
    task = ExecuteTask(
        tenant="default",
        run_id=UUID("00000000-0000-4000-8000-000000000001"),
        workflow="nightly",
        task="load",
        attempt=1,
        spec=TaskSpec(
            name="load", command=command, env={"PGPASSWORD": {"secret": name}}, timeout_seconds=30
        ),
    )
    return await execute(task, ENV, worker="w1")


async def test_a_secret_reaches_the_task_and_is_scrubbed_from_tails_and_output() -> None:
    execution = await shell_with_secret(
        'echo "password is $PGPASSWORD"; echo "$PGPASSWORD" >&2; '
        'printf \'{"used": "%s", "%s": 1}\' "$PGPASSWORD" "$PGPASSWORD" > "$LEDGERFLOW_OUTPUT"; '
        'test "$PGPASSWORD" = ' + RESOLVED
    )

    assert execution.outcome == "succeeded"
    assert execution.stdout_tail == "password is ***\n"
    assert execution.stderr_tail == "***\n"
    assert execution.output == {"used": "***", "***": 1}


async def test_a_missing_secret_fails_the_attempt_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    execution = await shell_with_secret(f"touch {marker}", name="NOT_THERE")

    assert execution.outcome == "failed"
    assert execution.error == "secret NOT_THERE is not set on worker w1"
    assert not marker.exists()


async def test_the_worker_secrets_are_not_in_the_task_environment() -> None:
    execution = await shell_with_secret("env | grep -c '^LEDGERFLOW_SECRET_' || true")

    assert execution.stdout_tail == "0\n"


def test_a_secret_cut_at_the_start_of_a_long_tail_is_masked() -> None:
    tail = RESOLVED[5:] + "x" * (MAX_TAIL_BYTES - 10)

    scrubbed = scrub_text(tail, {RESOLVED})

    assert scrubbed.startswith("***x")
    assert RESOLVED[5:] not in scrubbed


def test_a_secret_cut_at_the_end_of_a_long_text_is_masked() -> None:
    text = "y" * 2000 + RESOLVED[:6]

    assert scrub_text(text, {RESOLVED}) == "y" * 2000 + "***"
