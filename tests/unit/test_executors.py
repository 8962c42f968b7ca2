"""The executors run one attempt and report its outcome with bounded output tails."""

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from uuid import UUID

from streams.executors import execute, run_noop, run_shell
from streams.messages import MAX_TAIL_BYTES, ExecuteTask

POLL_SECONDS = 0.01
POLLS = 2000  # a 20 s hang bound
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def a_shell_task(command: str, **inputs: object) -> ExecuteTask:
    return ExecuteTask(
        tenant="default",
        run_id=UUID("00000000-0000-4000-8000-000000000001"),
        workflow="nightly",
        task="extract",
        attempt=2,
        queue="default",
        executor="shell",
        command=command,
        timeout_seconds=30,
        inputs=inputs,
    )


def process_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, not yet reaped by a slow init) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def test_echo_succeeds_with_its_stdout_tail() -> None:
    execution = await run_shell("echo hi; echo oops >&2", timeout=30, env=ENV)

    assert execution.outcome == "succeeded"
    assert execution.exit_code == 0
    assert execution.stdout_tail == "hi\n"
    assert execution.stderr_tail == "oops\n"
    assert execution.error is None


async def test_a_non_zero_exit_fails_with_its_code() -> None:
    execution = await run_shell("exit 3", timeout=30, env=ENV)

    assert execution.outcome == "failed"
    assert execution.exit_code == 3
    assert execution.error == "exit code 3"


async def test_a_command_killed_by_a_signal_fails_naming_it() -> None:
    execution = await run_shell("kill -KILL $$", timeout=30, env=ENV)

    assert execution.outcome == "failed"
    assert execution.exit_code == -9
    assert execution.error == "killed by signal SIGKILL"


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    started = time.monotonic()

    execution = await run_shell(f"sleep 60 & echo $! > {pid_file}; sleep 60", timeout=0.5, env=ENV)

    assert execution.outcome == "timed_out"
    assert execution.error == "timed out after 0.5 s"
    assert time.monotonic() - started < 20
    assert not process_alive(int(pid_file.read_text()))


async def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    execution = await run_shell("trap '' TERM; sleep 60", timeout=0.2, env=ENV, grace=0.3)

    assert execution.outcome == "timed_out"
    assert execution.exit_code == -9


async def test_a_background_child_holding_the_pipes_does_not_hang_a_finished_command(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "background.pid"
    started = time.monotonic()

    execution = await run_shell(f"sleep 60 & echo $! > {pid_file}; echo done", timeout=30, env=ENV)

    assert execution.outcome == "succeeded"
    assert execution.stdout_tail == "done\n"
    assert time.monotonic() - started < 20
    assert not process_alive(int(pid_file.read_text()))


async def test_huge_output_keeps_only_the_last_16_kib() -> None:
    execution = await run_shell("yes | head -c 5000000; printf END", timeout=30, env=ENV)

    assert execution.outcome == "succeeded"
    assert len(execution.stdout_tail) == MAX_TAIL_BYTES
    assert execution.stdout_tail.endswith("y\nEND")


async def test_nul_bytes_in_output_are_replaced() -> None:
    execution = await run_shell(r"printf 'a\000b'", timeout=30, env=ENV)

    assert execution.stdout_tail == "a\ufffdb"


async def test_a_multibyte_character_cut_by_the_tail_is_dropped_not_garbled() -> None:
    execution = await run_shell(
        f"printf 'é%.0s' $(seq {MAX_TAIL_BYTES}); printf x", timeout=30, env=ENV
    )

    assert execution.stdout_tail == "é" * (MAX_TAIL_BYTES // 2 - 1) + "x"


async def test_noop_succeeds() -> None:
    execution = await run_noop()

    assert execution.outcome == "succeeded"
    assert execution.exit_code == 0


async def test_the_task_and_its_inputs_reach_the_environment() -> None:
    task = a_shell_task(
        'printf "%s|%s|%s|%s" "$LEDGERFLOW_RUN_ID" "$LEDGERFLOW_TASK" "$LEDGERFLOW_ATTEMPT" '
        '"$LEDGERFLOW_INPUTS"',
        day="2024-05-01",
        rows=[1, 2],
    )

    execution = await execute(task, ENV)

    run_id, name, attempt, inputs = execution.stdout_tail.split("|")
    assert (run_id, name, attempt) == (str(task.run_id), "extract", "2")
    assert json.loads(inputs) == {"day": "2024-05-01", "rows": [1, 2]}


async def test_a_shell_task_without_a_command_fails() -> None:
    task = a_shell_task("").model_copy(update={"command": None})

    execution = await execute(task, ENV)

    assert execution.outcome == "failed"
    assert execution.error == "shell task without a command"


async def test_a_cancelled_command_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    attempt = asyncio.create_task(
        run_shell(f"sleep 60 & echo $! > {pid_file}; sleep 60", timeout=30, env=ENV)
    )
    background = await written_pid(pid_file)

    attempt.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await attempt

    assert await dies(background)


async def written_pid(pid_file: Path) -> int:
    for _ in range(POLLS):
        if pid := pid_in(pid_file):
            return pid
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"no pid written to {pid_file}")


def pid_in(pid_file: Path) -> int | None:
    text = pid_file.read_text().strip() if pid_file.exists() else ""
    return int(text) if text else None


async def dies(pid: int) -> bool:
    """Whether `pid` is gone within the hang bound (SIGKILL is delivered asynchronously)."""
    for _ in range(POLLS):
        if not process_alive(pid):
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False
