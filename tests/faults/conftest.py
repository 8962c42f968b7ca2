"""One fault rig for the package's scenarios (it takes a while to start, and stops when they are
done, not at the end of the whole test session); each test gets it healed."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.client import RequestLog
from tests.faults.rig import FaultRig
from tests.faults.summary import Summary

SUMMARY_VARIABLE = "LEDGERFLOW_FAULTS_SUMMARY"
KEEP_VARIABLE = "LEDGERFLOW_FAULTS_KEEP"
"""Set, the rig's folder (servers' data, every process's log) is kept even when all pass."""
LAST = "test_backlog.py"
"""Runs after the other scenarios: it leaves thousands of runs in the log, which each later
check would read and replay again (seconds per check)."""
_summary = Summary()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move `LAST`'s tests behind the other fault scenarios, keeping them among them."""
    here = Path(__file__).resolve().parent
    slots = [index for index, item in enumerate(items) if item.path.resolve().parent == here]
    ordered = sorted((items[index] for index in slots), key=lambda item: item.path.name == LAST)
    for index, item in zip(slots, ordered, strict=True):
        items[index] = item


@pytest.fixture(scope="package")
def fault_rig(request: pytest.FixtureRequest) -> Iterator[FaultRig]:
    # Short and under /tmp, like the session servers' folder (see tests/conftest.py).
    root = Path(tempfile.mkdtemp(prefix="lf-faults-", dir="/tmp"))
    rig = FaultRig(root, _summary)
    try:
        yield rig.start()
    finally:
        rig.stop()
        if not request.session.testsfailed and not os.environ.get(KEEP_VARIABLE):
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def rig(fault_rig: FaultRig) -> FaultRig:
    """The session's rig, whole again: whatever the previous scenario broke is healed."""
    fault_rig.heal()
    return fault_rig


@pytest.fixture
def requests() -> RequestLog:
    return RequestLog()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _summary.checks and not _summary.faults:
        return
    path = Path(os.environ.get(SUMMARY_VARIABLE, ".ledgerflow/faults-summary.txt"))
    path.parent.mkdir(parents=True, exist_ok=True)
    _summary.write(path)
    terminalreporter.write_sep("=", "fault injection")
    terminalreporter.write(_summary.render())
    terminalreporter.write_line(f"(written to {path})")
