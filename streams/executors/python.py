"""The python executor: calls a `package.module:function` target in a child process it can kill.

Each call runs in a fresh child process (`python -m streams.executors.python_child`) in its own
process group, not in a thread or a pool. Why: a thread cannot be stopped at a timeout or a
cancel, while a process group can (SIGTERM, SIGKILL after the grace period, children included);
a fresh process also keeps one task's globals, threads and memory from leaking into the next,
and needs no pool to restart after a kill. It costs an interpreter start (tens of
milliseconds) per call, small next to a workflow task; a pool of pre-started slot processes is
a possible later optimisation behind the same executor.

The worker imports the modules it is told to (`--import`, `LEDGERFLOW_WORKER_IMPORTS`) once at
start, so a broken deployment fails at start with a readable error rather than at the first
task (`import_declared`). A target whose module was not declared still runs: the child
imports it, and a failing import fails that attempt. The child imports with the worker's
`sys.path`, so whatever the worker can import, its tasks can.
"""

import importlib
import json
import sys
from collections.abc import Sequence

from streams.executors.execution import (
    Attempt,
    Execution,
    scratch_dir,
    task_variables,
    with_output,
)
from streams.executors.process import run_process
from streams.messages import MAX_TAIL_BYTES

CHILD_MODULE = "streams.executors.python_child"


class DeclaredImportError(ImportError):
    """A module the worker was told to import cannot be imported; the worker does not start."""


def import_declared(modules: Sequence[str]) -> None:
    """Import each declared module in this process, or raise naming the first that fails."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            msg = (
                f"cannot import {module!r} (declared with --import / LEDGERFLOW_WORKER_IMPORTS):"
                f" {type(error).__name__}: {error}"
            )
            raise DeclaredImportError(msg) from error


async def run_python_task(attempt: Attempt) -> Execution:
    """Call the task's target with `inputs` and `upstream`; its returned dict is the output."""
    spec = attempt.command.spec
    if not spec.target:
        return Execution.failure("python task without a target")
    with scratch_dir() as scratch:
        request = scratch / "request.json"
        error_file = scratch / "error.txt"
        request.write_text(
            json.dumps(
                {"target": spec.target, "sys_path": sys.path, "error_file": str(error_file)}
            ),
            encoding="utf-8",
        )
        env = {**attempt.env, **task_variables(attempt.command, scratch)}
        finished = await run_process(
            [sys.executable, "-m", CHILD_MODULE, str(request)],
            timeout=spec.timeout_seconds,
            env=env,
            grace=attempt.grace,
        )
        execution = Execution.of_process(finished, spec.timeout_seconds)
        if execution.outcome == "failed" and error_file.is_file():
            with error_file.open("rb") as reason:
                return execution.failed(reason.read(MAX_TAIL_BYTES).decode(errors="replace"))
        return with_output(execution, scratch / "output.json")
