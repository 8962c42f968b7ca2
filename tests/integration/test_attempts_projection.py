"""The attempts projection on real PostgreSQL: rows, replay from 0, exactly-once batches."""

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from aggregates.run import DEADLINE_GRACE_SECONDS, TaskReport
from aggregates.worker import Heartbeat
from engine.application import Ledgerflow
from ops.system import build_attempts_view
from projections.attempt_changes import AttemptKey
from projections.attempts import ATTEMPTS
from projections.attempts_view import AttemptsView
from tests.builders import a_spec
from tests.integration.loops import running
from tests.integration.test_read_model_contract import a_projection

pytestmark = pytest.mark.integration

HANG = 30.0
RETRYING = [{"name": "a", "command": "false", "retry": {"max_attempts": 3, "jitter": False}}]


async def caught_up(engine: Ledgerflow, view: AttemptsView) -> None:
    head = await asyncio.to_thread(engine.recorder.max_notification_id)
    await asyncio.to_thread(view.wait_for, head or 0, HANG)


def report(run_id: UUID, task: str, outcome: str, attempt: int = 1, **fields: Any) -> TaskReport:
    return TaskReport(
        run_id=run_id,
        tenant="default",
        task=task,
        attempt=attempt,
        delivery=1,
        worker="w1",
        outcome=outcome,  # type: ignore[arg-type]
        **fields,
    )


def a_beat(state: str = "running") -> Heartbeat:
    return Heartbeat("w1", "i1", ("default",), 4, "0.1.0", "box", state)  # type: ignore[arg-type]


def a_busy_history(engine: Ledgerflow) -> list[UUID]:
    """Runs that succeed, retry, get cancelled and keep running; a worker that drains."""
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    engine.apply_workflow("default", a_spec("retrying", RETRYING), engine.origin("t"))
    done, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    engine.record_reports([report(done.id, "a", "started"), report(done.id, "a", "succeeded")])
    for task in ("b", "c"):
        engine.record_reports([report(done.id, task, "started"), report(done.id, task, "failed")])
    retried, _ = engine.start_run("default", "retrying", {}, engine.origin("t"))
    engine.record_reports([report(retried.id, "a", "started"), report(retried.id, "a", "failed")])
    cancelled, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    engine.cancel_run("default", cancelled.id, "not needed", engine.origin("t"))
    running, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    engine.record_reports([report(running.id, "a", "started")])
    engine.record_heartbeat(a_beat())
    engine.record_heartbeat(a_beat("draining"))
    return [done.id, retried.id, cancelled.id, running.id]


async def test_attempts_and_their_deadlines_appear_as_the_log_grows(engine: Ledgerflow) -> None:
    view = build_attempts_view(engine)
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))

    async with running(a_projection(ATTEMPTS, engine)):
        await caught_up(engine, view)
        (queued,) = view.attempts_of(run.id)
        engine.record_reports([report(run.id, "a", "started")])
        await caught_up(engine, view)

    (started,) = view.attempts_of(run.id)
    loaded = engine.get_run("default", run.id)
    started_at = loaded.tasks["a"].started_at
    assert started_at is not None
    assert (queued.status, queued.queue) == ("queued", "default")
    assert queued.queued_at == run.tasks["a"].queued_at
    assert (started.status, started.worker, started.delivery) == ("running", "w1", 1)
    assert started.deadline == loaded.tasks["a"].deadline(DEADLINE_GRACE_SECONDS)
    assert started.deadline == started_at + timedelta(seconds=3600 + 15)
    assert view.running_on("w1") == [AttemptKey(run.id, "a", 1)]


async def test_stale_queued_lists_attempts_queued_before_a_bound_oldest_first(
    engine: Ledgerflow,
) -> None:
    view = build_attempts_view(engine)
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    older, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    newer, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    bound = newer.tasks["a"].queued_at
    assert bound is not None

    async with running(a_projection(ATTEMPTS, engine)):
        await caught_up(engine, view)

    assert [a.run_id for a in view.stale_queued(older_than=bound)] == [older.id]
    everything = view.stale_queued(older_than=bound + timedelta(seconds=1))
    assert [a.run_id for a in everything] == [older.id, newer.id]


async def test_retries_cancellations_and_workers_have_their_rows(engine: Ledgerflow) -> None:
    view = build_attempts_view(engine)
    done, retried, cancelled, _ = a_busy_history(engine)

    async with running(a_projection(ATTEMPTS, engine)):
        await caught_up(engine, view)

    assert [(a.task, a.attempt, a.status) for a in view.attempts_of(done)] == [
        ("a", 1, "succeeded"),
        ("b", 1, "failed"),
        ("c", 1, "failed"),
    ]
    first, second = view.attempts_of(retried)
    assert (first.status, second.status, second.queue) == ("failed", "waiting_retry", "default")
    assert second.retry_at == engine.get_run("default", retried).tasks["a"].retry_at
    assert [a.status for a in view.attempts_of(cancelled)] == ["cancelled"]
    assert [(w.name, w.instance, w.status, w.queues) for w in view.workers()] == [
        ("w1", "i1", "draining", ["default"])
    ]
    assert view.live_workers() == [("w1", "i1")]
