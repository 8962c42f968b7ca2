"""The executor interface: what an executor is given (`Attempt`) and returns (`Execution`).

Adding an executor: write `async def run_x(attempt: Attempt) -> Execution`, register it in
`streams.executors.registry.EXECUTORS` and name it in `aggregates.spec.TaskSpec` (the
`executor` literal and `EXECUTOR_FIELDS`). An executor resolves the secrets it uses through
`attempt.secrets` (the registry scrubs them from what it returns), stops what it started when
cancelled (cancelling is how an attempt is stopped), and never raises for a task's own failure.

Task processes (shell commands and the python child) share one contract, set in their
environment: `LEDGERFLOW_RUN_ID`, `LEDGERFLOW_TASK`, `LEDGERFLOW_ATTEMPT`; the run's inputs
(`LEDGERFLOW_INPUTS`) and the outputs of the task's dependencies (`LEDGERFLOW_UPSTREAM`, a JSON
object `{dependency: output}`) as JSON text, also in the files named by `LEDGERFLOW_INPUTS_FILE`
and `LEDGERFLOW_UPSTREAM_FILE` (the variables are left out when too long for the environment,
the files never); and `LEDGERFLOW_OUTPUT`, a fresh empty file where the task may write its
output, a JSON object of at most MAX_OUTPUT_BYTES.
"""

import contextlib
import json
import math
import os
import signal
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from streams.executors.process import DEFAULT_GRACE_SECONDS, Finished
from streams.executors.secrets import SecretResolver
from streams.messages import MAX_OUTPUT_BYTES, MAX_TAIL_BYTES, ExecuteTask

Ending = Literal["succeeded", "failed", "timed_out"]
MAX_OUTPUT_DEPTH = 64
# Linux refuses a single environment string over 128 KiB (MAX_ARG_STRLEN) with E2BIG.
_MAX_VARIABLE_BYTES = 120 * 1024


@dataclass(frozen=True)
class Execution:
    """What one attempt did: its outcome, exit code, output tails, error and task output."""

    outcome: Ending
    exit_code: int | None
    stdout_tail: str
    stderr_tail: str
    error: str | None
    output: dict[str, Any] | None = None

    @classmethod
    def failure(cls, error: str) -> "Execution":
        """A failed attempt that never ran (or ran nothing worth reporting), saying why."""
        return cls("failed", None, "", "", error[:MAX_TAIL_BYTES])

    @classmethod
    def of_process(cls, finished: Finished, timeout: float) -> "Execution":
        """The outcome of a task process: by its exit status, or timed out."""
        code = finished.returncode
        if finished.timed_out:
            outcome: Ending = "timed_out"
            error: str | None = f"timed out after {timeout:g} s"
        elif code == 0:
            outcome, error = "succeeded", None
        elif code is not None and code < 0:
            outcome, error = "failed", f"killed by signal {_signal_name(-code)}"
        else:
            outcome, error = "failed", f"exit code {code}"
        return cls(outcome, code, finished.stdout_tail, finished.stderr_tail, error)

    def failed(self, error: str) -> "Execution":
        """This execution, failed with `error` (its exit code and tails kept)."""
        return replace(self, outcome="failed", error=error[:MAX_TAIL_BYTES], output=None)


@dataclass(frozen=True)
class Attempt:
    """What an executor gets: the dispatch command and what the worker lends it."""

    command: ExecuteTask
    env: Mapping[str, str]
    """The worker's environment without its secrets: what task processes start from."""
    secrets: SecretResolver
    worker: str
    grace: float = DEFAULT_GRACE_SECONDS
    """Seconds between SIGTERM and SIGKILL for a process past its timeout."""


class Executor(Protocol):
    """Runs one attempt to its end (success, failure or timeout); stops it if cancelled."""

    async def __call__(self, attempt: Attempt) -> Execution: ...


class OutputError(ValueError):
    """A task's output breaks the rules (size, JSON object, storable); the attempt fails."""


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A fresh private folder for one attempt's files, removed afterwards."""
    with tempfile.TemporaryDirectory(
        prefix="ledgerflow-attempt-", ignore_cleanup_errors=True
    ) as path:
        yield Path(path)


def task_variables(command: ExecuteTask, scratch: Path) -> dict[str, str]:
    """The environment a task process gets from Ledgerflow; writes its files under `scratch`."""
    output = scratch / "output.json"
    output.touch(mode=0o600)
    variables = {
        "LEDGERFLOW_RUN_ID": str(command.run_id),
        "LEDGERFLOW_TASK": command.task,
        "LEDGERFLOW_ATTEMPT": str(command.attempt),
        "LEDGERFLOW_OUTPUT": str(output),
    }
    for name, value in (("INPUTS", command.inputs), ("UPSTREAM", command.upstream)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        path = scratch / f"{name.lower()}.json"
        path.write_text(text, encoding="utf-8")
        variables[f"LEDGERFLOW_{name}_FILE"] = str(path)
        if len(text.encode()) <= _MAX_VARIABLE_BYTES:
            variables[f"LEDGERFLOW_{name}"] = text
    return variables


def with_output(execution: Execution, path: Path) -> Execution:
    """A succeeded execution with the output its process wrote to `path`, or failed saying why."""
    if execution.outcome != "succeeded":
        return execution
    try:
        output = read_output(path)
    except OutputError as error:
        return execution.failed(str(error))
    return replace(execution, output=output)


def read_output(path: Path) -> dict[str, Any] | None:
    """The JSON object in the output file; None if it is missing or empty."""
    try:
        # Not following links nor blocking on a FIFO: the task controls this path.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        msg = f"cannot read the output file: {error.strerror}"
        raise OutputError(msg) from None
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            msg = "the output file is not a regular file"
            raise OutputError(msg)
        data = file.read(MAX_OUTPUT_BYTES + 1)
    size = max(status.st_size, len(data))
    if size > MAX_OUTPUT_BYTES:
        msg = f"output is {size} bytes, the limit is {MAX_OUTPUT_BYTES}"
        raise OutputError(msg)
    return parse_output(data) if data.strip() else None


def parse_output(data: bytes) -> dict[str, Any]:
    """A task output from JSON text: an object Ledgerflow can store, or `OutputError`."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        msg = f"output is nested deeper than {MAX_OUTPUT_DEPTH} levels"
        raise OutputError(msg) from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        msg = f"output is not valid JSON: {error}"
        raise OutputError(msg) from None
    if not isinstance(value, dict):
        msg = f"output must be a JSON object, not {_json_kind(value)}"
        raise OutputError(msg)
    _check_storable(value, depth=1)
    return value


def _check_storable(value: Any, depth: int) -> None:
    """Refuse what PostgreSQL's jsonb cannot hold (NUL, lone surrogates, NaN) or too deep."""
    if depth > MAX_OUTPUT_DEPTH:
        msg = f"output is nested deeper than {MAX_OUTPUT_DEPTH} levels"
        raise OutputError(msg)
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        msg = "output contains a non-finite number"
        raise OutputError(msg)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, depth + 1)


def _check_text(text: str) -> None:
    if "\x00" in text:
        msg = "output contains a NUL character, which cannot be stored"
        raise OutputError(msg)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        msg = "output contains invalid Unicode (a lone surrogate)"
        raise OutputError(msg) from None


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
