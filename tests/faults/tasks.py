"""The workload's python task targets: each records its execution, then does its one thing."""

import os
import signal
import time
from typing import Any

from tests.faults.executions import record_this_execution


def quick(inputs: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    record_this_execution()
    return {"ok": True}


def nap(inputs: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    record_this_execution()
    time.sleep(float(inputs.get("nap", 1.0)))
    return {"slept": True}


def fail(inputs: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    record_this_execution()
    msg = "this task always fails"
    raise RuntimeError(msg)


def crash_worker(inputs: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    """Kill the worker running this task the first time it runs (a task that takes its worker
    down: out of memory, a segfault in an extension); it succeeds when run again."""
    if record_this_execution() == 1:
        os.kill(os.getppid(), signal.SIGKILL)  # our parent is the worker process
        time.sleep(5)  # in a session of our own, we outlive it: nobody reports our return
    return {"survived": True}
