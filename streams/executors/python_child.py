"""The child process of the python executor: calls one `module:function` and writes its output.

Run as `python -m streams.executors.python_child REQUEST` by `streams.executors.python`; only
the standard library is imported here, so a call starts fast. REQUEST is a JSON file
`{"target": "pkg.mod:function", "sys_path": [...], "error_file": "..."}`; the run's inputs and
the dependencies' outputs are read from `LEDGERFLOW_INPUTS_FILE` and `LEDGERFLOW_UPSTREAM_FILE`.
The function is called as `function(inputs=..., upstream=...)`, awaited if it returns an
awaitable; a dict it returns is written as JSON to `LEDGERFLOW_OUTPUT` (None writes nothing).
Any failure prints its traceback on stderr, writes a one-line reason to `error_file` and exits 1.
"""

import asyncio
import importlib
import inspect
import json
import os
import sys
import traceback
from collections.abc import Awaitable
from pathlib import Path
from typing import Any


class _TaskError(Exception):
    """A failure with a reason of its own (no exception type prefixed)."""


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    sys.path[:0] = [entry for entry in request["sys_path"] if entry not in sys.path]
    try:
        output = _call(request["target"])
    except (Exception, SystemExit) as error:
        traceback.print_exc()
        reason = str(error) if isinstance(error, _TaskError) else _describe(error)
        Path(request["error_file"]).write_text(reason, encoding="utf-8")
        return 1
    if output is not None:
        Path(os.environ["LEDGERFLOW_OUTPUT"]).write_text(output, encoding="utf-8")
    return 0


def _call(target: str) -> str | None:
    """Call the target; its return value as compact JSON text, or None."""
    module_name, _, function_name = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        msg = f"cannot load {target}: {_describe(error)}"
        raise _TaskError(msg) from error
    result = function(inputs=_read("INPUTS"), upstream=_read("UPSTREAM"))
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    if result is None:
        return None
    if not isinstance(result, dict):
        msg = f"{target} returned {type(result).__name__}, not a dict or None"
        raise _TaskError(msg)
    try:
        return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        msg = f"{target} returned a dict that is not JSON-serialisable: {error}"
        raise _TaskError(msg) from error


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _read(name: str) -> Any:
    return json.loads(Path(os.environ[f"LEDGERFLOW_{name}_FILE"]).read_text(encoding="utf-8"))


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
