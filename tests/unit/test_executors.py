"""The shell and noop executors run one attempt and report its outcome, tails and output."""

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from aggregates.spec import TaskSpec
from streams.executors.execution import Execution
from streams.executors.registry import execute
from streams.messages import MAX_OUTPUT_BYTES, MAX_TAIL_BYTES, ExecuteTask

POLL_SECONDS = 0.01
POLLS = 2000  # a 20 s hang bound
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def a_task(
    executor: str = "shell",
    *,
    timeout: float = 30.0,
    inputs: dict[str, Any] | None = None,
    upstream: dict[str, dict[str, Any] | None] | None = None,
    **fields: Any,
) -> ExecuteTask:
    spec = TaskSpec.model_validate(
        {"name": "extract", "executor": executor, "timeout_seconds": timeout, **fields}
    )
    return ExecuteTask(
        tenant="default",
        run_id=UUID("00000000-0000-4000-8000-000000000001"),
        workflow="nightly",
        task="extract",
        attempt=2,
        spec=spec,
        inputs=inputs or {},
        upstream=upstream or {},
    )


async def shell(
    command: str, *, base_env: dict[str, str] = ENV, grace: float = 5.0, **fields: Any
) -> Execution:
    return await execute(a_task(command=command, **fields), base_env, worker="w1", grace=grace)


def process_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, not yet reaped by a slow init) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def test_echo_succeeds_with_its_stdout_tail() -> None:
    execution = await shell("echo hi; echo oops >&2")

    assert execution.outcome == "succeeded"
    assert execution.exit_code == 0
    assert execution.stdout_tail == "hi\n"
    assert execution.stderr_tail == "oops\n"
    assert execution.error is None
    assert execution.output is None


async def test_a_non_zero_exit_fails_with_its_code() -> None:
    execution = await shell("exit 3")

    assert execution.outcome == "failed"
    assert execution.exit_code == 3
    assert execution.error == "exit code 3"


async def test_a_command_killed_by_a_signal_fails_naming_it() -> None:
    execution = await shell("kill -KILL $$")

    assert execution.outcome == "failed"
    assert execution.exit_code == -9
    assert execution.error == "killed by signal SIGKILL"


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    started = time.monotonic()

    execution = await shell(f"sleep 60 & echo $! > {pid_file}; sleep 60", timeout=0.5)

    assert execution.outcome == "timed_out"
    assert execution.error == "timed out after 0.5 s"
    assert time.monotonic() - started < 20
    assert not process_alive(int(pid_file.read_text()))


async def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    execution = await shell("trap '' TERM; sleep 60", timeout=0.2, grace=0.3)

    assert execution.outcome == "timed_out"
    assert execution.exit_code == -9


async def test_a_background_child_holding_the_pipes_does_not_hang_a_finished_command(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "background.pid"
    started = time.monotonic()

    execution = await shell(f"sleep 60 & echo $! > {pid_file}; echo done")

    assert execution.outcome == "succeeded"
    assert execution.stdout_tail == "done\n"
    assert time.monotonic() - started < 20
    assert not process_alive(int(pid_file.read_text()))


async def test_huge_output_keeps_only_the_last_16_kib() -> None:
    execution = await shell("yes | head -c 5000000; printf END")

    assert execution.outcome == "succeeded"
    assert len(execution.stdout_tail) == MAX_TAIL_BYTES
    assert execution.stdout_tail.endswith("y\nEND")


async def test_nul_bytes_in_output_are_replaced() -> None:
    execution = await shell(r"printf 'a\000b'")

    assert execution.stdout_tail == "a\ufffdb"


async def test_a_multibyte_character_cut_by_the_tail_is_dropped_not_garbled() -> None:
    execution = await shell(f"printf 'é%.0s' $(seq {MAX_TAIL_BYTES}); printf x")

    assert execution.stdout_tail == "é" * (MAX_TAIL_BYTES // 2 - 1) + "x"


async def test_noop_succeeds_in_process() -> None:
    execution = await execute(a_task("noop"), ENV, worker="w1")

    assert (execution.outcome, execution.exit_code, execution.output) == ("succeeded", 0, None)


async def test_args_are_the_positional_parameters_of_the_command() -> None:
    execution = await shell('printf "%s|" "$0" "$@"', args=["a b", "$HOME", "c"])

    assert execution.stdout_tail == "ledgerflow-task|a b|$HOME|c|"


async def test_the_spec_env_is_merged_over_the_worker_env() -> None:
    base = {**ENV, "REGION": "eu", "LEVEL": "info"}

    execution = await shell(
        'printf "%s %s" "$REGION" "$LEVEL"', base_env=base, env={"LEVEL": "debug"}
    )

    assert execution.stdout_tail == "eu debug"


async def test_the_task_runs_in_its_working_directory(tmp_path: Path) -> None:
    execution = await shell("pwd", working_dir=str(tmp_path))

    assert execution.stdout_tail == f"{tmp_path}\n"


async def test_a_missing_working_directory_fails_saying_so(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    execution = await shell("pwd", working_dir=str(missing))

    assert execution.outcome == "failed"
    assert execution.error == f"working directory {missing} does not exist on worker w1"


async def test_the_attempt_its_inputs_and_upstream_outputs_reach_the_environment() -> None:
    execution = await shell(
        'printf "%s|%s|%s|%s|%s" "$LEDGERFLOW_RUN_ID" "$LEDGERFLOW_TASK" "$LEDGERFLOW_ATTEMPT" '
        '"$LEDGERFLOW_INPUTS" "$LEDGERFLOW_UPSTREAM"',
        inputs={"day": "2024-05-01", "rows": [1, 2]},
        upstream={"fetch": {"path": "/data/x"}, "notify": None},
    )

    run_id, task, attempt, inputs, upstream = execution.stdout_tail.split("|")
    assert (run_id, task, attempt) == ("00000000-0000-4000-8000-000000000001", "extract", "2")
    assert json.loads(inputs) == {"day": "2024-05-01", "rows": [1, 2]}
    assert json.loads(upstream) == {"fetch": {"path": "/data/x"}, "notify": None}


async def test_inputs_too_long_for_the_environment_still_reach_the_task_in_a_file() -> None:
    big = {"blob": "x" * 200_000}

    execution = await shell(
        'test -z "$LEDGERFLOW_INPUTS" && wc -c < "$LEDGERFLOW_INPUTS_FILE"', inputs=big
    )

    assert execution.outcome == "succeeded"
    assert int(execution.stdout_tail) == len(json.dumps(big, separators=(",", ":")))


async def test_the_json_object_written_to_the_output_file_is_the_output() -> None:
    execution = await shell("""printf '{"rows": 3, "path": "/tmp/x"}' > "$LEDGERFLOW_OUTPUT" """)

    assert execution.outcome == "succeeded"
    assert execution.output == {"rows": 3, "path": "/tmp/x"}


async def test_an_empty_output_file_means_no_output() -> None:
    execution = await shell('rm "$LEDGERFLOW_OUTPUT"; echo quiet')

    assert (execution.outcome, execution.output) == ("succeeded", None)


async def test_an_output_over_the_limit_fails_the_attempt_naming_both_sizes() -> None:
    execution = await shell(
        """printf '{"a": "%s"}' "$(head -c 69991 /dev/zero | tr '\\0' x)" > "$LEDGERFLOW_OUTPUT" """
    )

    assert execution.outcome == "failed"
    assert execution.error == f"output is 70000 bytes, the limit is {MAX_OUTPUT_BYTES}"
    assert execution.output is None
    assert execution.exit_code == 0


async def test_an_output_that_is_not_a_json_object_fails_the_attempt() -> None:
    execution = await shell('echo "[1, 2]" > "$LEDGERFLOW_OUTPUT"')

    assert execution.outcome == "failed"
    assert execution.error == "output must be a JSON object, not an array"


async def test_an_output_that_is_not_json_fails_the_attempt() -> None:
    execution = await shell('echo "rows=3" > "$LEDGERFLOW_OUTPUT"')

    assert execution.outcome == "failed"
    assert (execution.error or "").startswith("output is not valid JSON")


async def test_an_output_with_a_nul_character_fails_as_unstorable() -> None:
    execution = await shell("""printf '{"a": "x\\\\u0000"}' > "$LEDGERFLOW_OUTPUT" """)

    assert execution.outcome == "failed"
    assert execution.error == "output contains a NUL character, which cannot be stored"


async def test_an_output_file_replaced_by_a_fifo_fails_instead_of_hanging() -> None:
    execution = await shell('rm "$LEDGERFLOW_OUTPUT"; mkfifo "$LEDGERFLOW_OUTPUT"')

    assert execution.outcome == "failed"
    assert execution.error == "the output file is not a regular file"


async def test_a_failed_command_reports_no_output() -> None:
    execution = await shell("""echo '{"partial": true}' > "$LEDGERFLOW_OUTPUT"; exit 1""")

    assert (execution.outcome, execution.output) == ("failed", None)


async def test_a_cancelled_command_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    attempt = asyncio.create_task(shell(f"sleep 60 & echo $! > {pid_file}; sleep 60"))
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
