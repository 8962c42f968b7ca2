"""The timers loop on real PostgreSQL: due retries are queued, passed deadlines time out once."""

import asyncio
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from aggregates.run import TaskReport
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from gateways.timers import Timers
from ops.system import build_attempts_view, build_projection
from projections.attempts import ATTEMPTS
from tests.builders import a_spec
from tests.clocks import MovingClock
from tests.integration.loops import all_running

pytestmark = pytest.mark.integration

HANG = 30.0
QUEUED = TaskStatus.QUEUED


async def eventually(check: Callable[[], bool], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


def report(run_id: UUID, outcome: str, attempt: int = 1) -> TaskReport:
    return TaskReport(
        run_id=run_id,
        tenant="default",
        task="a",
        attempt=attempt,
        delivery=1,
        worker="w1",
        outcome=outcome,  # type: ignore[arg-type]
        exit_code=None if outcome == "started" else 1,
    )


def a_running_task(engine: Ledgerflow, **task: Any) -> UUID:
    """A one-task run whose attempt 1 a worker has started."""
    spec = a_spec("one", [{"name": "a", "command": "false", **task}])
    engine.apply_workflow("default", spec, engine.origin("t"))
    run, _ = engine.start_run("default", "one", {}, engine.origin("t"))
    engine.record_reports([report(run.id, "started")])
    return run.id


def event_types(engine: Ledgerflow, run_id: UUID) -> list[str]:
    return [entry.type for entry in engine.run_history("default", run_id)]


async def test_a_failed_attempt_is_queued_again_once_its_backoff_has_passed(
    engine: Ledgerflow,
) -> None:
    retry = {"max_attempts": 3, "initial_seconds": 0.1, "jitter": False}
    run_id = a_running_task(engine, retry=retry)
    timers = Timers(engine, build_attempts_view(engine))

    async with all_running(build_projection(engine, ATTEMPTS), timers):
        engine.record_reports([report(run_id, "failed")])
        await eventually(lambda: engine.get_run("default", run_id).tasks["a"].status is QUEUED)
        task = engine.get_run("default", run_id).tasks["a"]

    assert task.attempt == 2
    assert event_types(engine, run_id)[-3:] == ["TaskFailed", "TaskRetryScheduled", "TaskQueued"]
    assert engine.run_history("default", run_id)[-1].data["attempt"] == 2
    assert timers.fired["requeued"] == 1


async def test_a_running_attempt_past_its_deadline_is_timed_out_exactly_once(
    engine_on_clock: Ledgerflow, clock: MovingClock
) -> None:
    engine = engine_on_clock
    run_id = a_running_task(engine, timeout_seconds=0.2)
    view = build_attempts_view(engine)
    replicas = [Timers(engine, view, interval=0.1), Timers(engine, view, interval=0.1)]
    projection = build_projection(engine, ATTEMPTS)

    async with all_running(projection, *replicas):
        head = engine.recorder.max_notification_id() or 0
        await asyncio.to_thread(view.wait_for, head, HANG)
        await asyncio.sleep(0.3)
        untouched = engine.get_run("default", run_id).tasks["a"].status
        clock.advance(0.2 + 15 + 1)  # timeout + grace, and a second
        await eventually(lambda: engine.get_run("default", run_id).status.is_terminal)
        await asyncio.sleep(0.5)  # more ticks of both replicas: nothing more happens

    assert untouched is TaskStatus.RUNNING
    assert engine.get_run("default", run_id).tasks["a"].status is TaskStatus.TIMED_OUT
    assert event_types(engine, run_id).count("TaskTimedOut") == 1
    assert sum(timers.fired["expired"] for timers in replicas) == 1
    assert view.expired_deadlines(clock()) == []
