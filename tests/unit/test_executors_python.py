"""The python executor calls `module:function` in a child process it can really stop."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from aggregates.spec import TaskSpec
from streams.executors.execution import Execution
from streams.executors.python import DeclaredImportError, import_declared
from streams.executors.registry import execute
from streams.messages import MAX_OUTPUT_BYTES, ExecuteTask

HANG_SECONDS = 20.0
POLL_SECONDS = 0.01

TARGETS = """
import asyncio
import os
import sys
import time
from pathlib import Path


def totals(inputs, upstream):
    return {"rows": len(inputs["rows"]), "from": upstream["fetch"]["path"]}


async def async_totals(inputs, upstream):
    await asyncio.sleep(0)
    return {"rows": len(inputs["rows"]), "async": True}


def chatty(inputs, upstream):
    print("working on it")
    print("careful", file=sys.stderr)


def broken(inputs, upstream):
    raise ValueError("the ledger does not balance")


def a_list(inputs, upstream):
    return [1, 2]


def a_set(inputs, upstream):
    return {"ids": {1, 2}}


def too_big(inputs, upstream):
    return {"blob": "x" * 70000}


def env(inputs, upstream):
    return {"task": os.environ["LEDGERFLOW_TASK"], "secret": os.environ.get("LEDGERFLOW_SECRET_X")}


def sleepy(inputs, upstream):
    Path(inputs["pid_file"]).write_text(str(os.getpid()))
    time.sleep(60)
"""


@pytest.fixture
def targets(tmp_path: Path) -> dict[str, str]:
    """A base env whose PYTHONPATH holds a fresh module of targets, `tasks_<random>`."""
    (tmp_path / f"tasks_{tmp_path.name}.py").write_text(TARGETS)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(tmp_path)}


def a_python_task(
    target: str,
    *,
    timeout: float = 30.0,
    inputs: dict[str, Any] | None = None,
    upstream: dict[str, dict[str, Any] | None] | None = None,
) -> ExecuteTask:
    return ExecuteTask(
        tenant="default",
        run_id=UUID("00000000-0000-4000-8000-000000000001"),
        workflow="nightly",
        task="load",
        attempt=1,
        spec=TaskSpec(name="load", executor="python", target=target, timeout_seconds=timeout),
        inputs=inputs or {},
        upstream=upstream or {},
    )


async def call(env: dict[str, str], function: str, *, grace: float = 5.0, **task: Any) -> Execution:
    module = Path(env["PYTHONPATH"]).name
    return await execute(
        a_python_task(f"tasks_{module}:{function}", **task), env, worker="w1", grace=grace
    )


async def test_a_sync_function_gets_inputs_and_upstream_and_its_dict_is_the_output(
    targets: dict[str, str],
) -> None:
    execution = await call(
        targets, "totals", inputs={"rows": [1, 2, 3]}, upstream={"fetch": {"path": "/d"}}
    )

    assert execution.outcome == "succeeded"
    assert execution.output == {"rows": 3, "from": "/d"}


async def test_an_async_function_is_awaited(targets: dict[str, str]) -> None:
    execution = await call(targets, "async_totals", inputs={"rows": [1]})

    assert execution.outcome == "succeeded"
    assert execution.output == {"rows": 1, "async": True}


async def test_what_the_function_prints_is_in_the_tails_and_none_means_no_output(
    targets: dict[str, str],
) -> None:
    execution = await call(targets, "chatty")

    assert execution.outcome == "succeeded"
    assert (execution.stdout_tail, execution.stderr_tail) == ("working on it\n", "careful\n")
    assert execution.output is None


async def test_an_exception_fails_the_attempt_with_its_type_message_and_traceback(
    targets: dict[str, str],
) -> None:
    execution = await call(targets, "broken")

    assert execution.outcome == "failed"
    assert execution.error == "ValueError: the ledger does not balance"
    assert "Traceback (most recent call last)" in execution.stderr_tail
    assert execution.stderr_tail.endswith("ValueError: the ledger does not balance\n")


@pytest.mark.parametrize(
    ("function", "error"),
    [
        ("a_list", "returned list, not a dict or None"),
        ("a_set", "returned a dict that is not JSON-serialisable"),
        ("too_big", f"output is 70011 bytes, the limit is {MAX_OUTPUT_BYTES}"),
    ],
)
async def test_a_return_value_that_cannot_be_an_output_fails_the_attempt(
    targets: dict[str, str], function: str, error: str
) -> None:
    execution = await call(targets, function)

    assert execution.outcome == "failed"
    assert error in (execution.error or "")


async def test_a_target_whose_module_cannot_be_imported_fails_naming_it(
    targets: dict[str, str],
) -> None:
    execution = await execute(a_python_task("no_such_module_x:run"), targets, worker="w1")

    assert execution.outcome == "failed"
    assert execution.error == (
        "cannot load no_such_module_x:run: ModuleNotFoundError: No module named 'no_such_module_x'"
    )


async def test_the_child_sees_the_task_variables_but_not_the_worker_secrets(
    targets: dict[str, str],
) -> None:
    execution = await call({**targets, "LEDGERFLOW_SECRET_X": "hunter2"}, "env")

    assert execution.output == {"task": "load", "secret": None}


async def test_a_function_past_its_timeout_is_killed_with_its_process(
    targets: dict[str, str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()

    execution = await call(
        targets, "sleepy", timeout=4.0, grace=0.5, inputs={"pid_file": str(pid_file)}
    )

    assert execution.outcome == "timed_out"
    assert execution.error == "timed out after 4 s"
    assert time.monotonic() - started < HANG_SECONDS
    assert await gone(int(pid_file.read_text()))


def test_declared_modules_that_import_pass() -> None:
    import_declared(["json", "streams.executors.python_child"])


def test_a_declared_module_that_cannot_be_imported_stops_the_start_naming_it() -> None:
    with pytest.raises(DeclaredImportError) as raised:
        import_declared(["json", "no_such_module_y"])

    assert str(raised.value) == (
        "cannot import 'no_such_module_y' (declared with --import / LEDGERFLOW_WORKER_IMPORTS):"
        " ModuleNotFoundError: No module named 'no_such_module_y'"
    )


def test_the_child_module_loads_no_third_party_package_so_a_call_starts_fast() -> None:
    probe = (
        "import sys, streams.executors.python_child; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pydantic', 'nats', 'httpx'}))"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout

    assert loaded == "[]\n"


async def gone(pid: int) -> bool:
    for _ in range(int(HANG_SECONDS / POLL_SECONDS)):
        if not alive(pid):
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, not yet reaped) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
