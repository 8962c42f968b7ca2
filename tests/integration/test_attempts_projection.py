"""The attempts projection on real PostgreSQL: rows, replay from 0, exactly-once batches."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier

from aggregates.run import DEADLINE_GRACE_SECONDS, TaskReport
from aggregates.worker import Heartbeat
from engine.application import Ledgerflow
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_attempts_tables, build_attempts_view, build_engine
from projections.attempt_changes import AttemptKey, TaskPinned, changes_for
from projections.attempts import ATTEMPTS
from projections.attempts_view import AttemptsView
from projections.tracked_projection import TrackedProjection
from tests.builders import a_spec

pytestmark = pytest.mark.integration

HANG = 30.0
RETRYING = [{"name": "a", "command": "false", "retry": {"max_attempts": 3, "jitter": False}}]


def a_projection(engine: Ledgerflow, into: Ledgerflow | None = None, **options: Any) -> Any:
    """The attempts projection of `engine`'s log, into `into`'s schema (by default the same)."""
    return TrackedProjection.of(
        ATTEMPTS,
        build_attempts_tables(into or engine),
        log=engine.recorder,
        decode=engine.mapper.to_domain_event,
        application_name=engine.name,
        **options,
    )


@asynccontextmanager
async def running(projection: TrackedProjection) -> AsyncIterator[TrackedProjection]:
    stop = asyncio.Event()
    task = asyncio.create_task(projection.run(stop))
    try:
        yield projection
    finally:
        stop.set()
        await asyncio.wait_for(task, HANG)


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


def dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read model's tables, in a stable order."""
    queries = {
        "attempts": SQL("SELECT * FROM {}.attempts ORDER BY run_id, task, attempt"),
        "attempt_specs": SQL("SELECT * FROM {}.attempt_specs ORDER BY run_id, task"),
        "workers": SQL("SELECT * FROM {}.workers ORDER BY name, instance"),
    }
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        return {
            table: conn.execute(query.format(Identifier(settings.schema))).fetchall()
            for table, query in queries.items()
        }


async def test_attempts_and_their_deadlines_appear_as_the_log_grows(engine: Ledgerflow) -> None:
    view = build_attempts_view(engine)
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))

    async with running(a_projection(engine)):
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

    async with running(a_projection(engine)):
        await caught_up(engine, view)

    assert [a.run_id for a in view.stale_queued(older_than=bound)] == [older.id]
    everything = view.stale_queued(older_than=bound + timedelta(seconds=1))
    assert [a.run_id for a in everything] == [older.id, newer.id]


async def test_retries_cancellations_and_workers_have_their_rows(engine: Ledgerflow) -> None:
    view = build_attempts_view(engine)
    done, retried, cancelled, _ = a_busy_history(engine)

    async with running(a_projection(engine)):
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


async def test_events_the_read_model_ignores_still_advance_its_position(
    engine: Ledgerflow,
) -> None:
    view = build_attempts_view(engine)
    engine.apply_workflow("default", a_spec(), engine.origin("t"))  # a Workflow event only

    async with running(a_projection(engine)):
        await caught_up(engine, view)

    assert view.position() == engine.recorder.max_notification_id() == 1


async def test_replaying_the_log_from_zero_into_an_empty_schema_gives_the_same_rows(
    engine: Ledgerflow, settings: Settings, unique_name: str
) -> None:
    view = build_attempts_view(engine)
    async with running(a_projection(engine, batch_size=3)):
        a_busy_history(engine)  # applied live, as it happens
        await caught_up(engine, view)
    elsewhere = replace(settings, schema=f"{unique_name}_replay")
    migrate(elsewhere)
    replay_schema = build_engine(elsewhere)

    try:
        async with running(a_projection(engine, into=replay_schema)):
            await caught_up(engine, build_attempts_view(replay_schema))
    finally:
        replay_schema.close()

    assert dump(elsewhere) == dump(settings)
    assert dump(settings)["attempts"]


async def test_a_reset_read_model_is_rebuilt_from_position_zero(
    engine: Ledgerflow, settings: Settings
) -> None:
    view = build_attempts_view(engine)
    a_busy_history(engine)
    async with running(a_projection(engine)):
        await caught_up(engine, view)
    before = dump(settings)

    build_attempts_tables(engine).reset(engine.name)
    emptied = (dump(settings)["attempts"], view.position())
    async with running(a_projection(engine)):
        await caught_up(engine, view)

    assert emptied == ([], 0)
    assert dump(settings) == before


async def test_a_batch_that_does_not_follow_the_recorded_position_changes_nothing(
    engine: Ledgerflow, settings: Settings
) -> None:
    view = build_attempts_view(engine)
    a_busy_history(engine)
    async with running(a_projection(engine)):
        await caught_up(engine, view)
    before = dump(settings)
    notifications = engine.recorder.select_notifications(start=1, limit=1000)
    changes = [
        change
        for notification in notifications
        for change in changes_for(engine.mapper.to_domain_event(notification))
    ]
    tables = build_attempts_tables(engine)

    applied_again = [
        tables.apply(changes, Tracking(engine.name, notifications[-1].id), 0),
        tables.apply(changes[:4], Tracking(engine.name, notifications[-1].id + 9), 4),
        tables.apply(changes[:4], Tracking(engine.name, 4), 0),
    ]

    assert applied_again == [False, False, False]
    assert dump(settings) == before


async def test_a_failing_batch_leaves_neither_rows_nor_its_position(
    engine: Ledgerflow, settings: Settings
) -> None:
    tables = build_attempts_tables(engine)
    run_id = UUID(int=1)
    good = TaskPinned(run_id, "default", "a", "default", 1.0)
    bad = TaskPinned(run_id, None, "b", "default", 1.0)  # type: ignore[arg-type]

    with pytest.raises(Exception, match="null value"):
        tables.apply([good, bad], Tracking(engine.name, 7), 0)

    assert dump(settings)["attempt_specs"] == []
    assert build_attempts_view(engine).position() == 0


async def test_a_second_replica_stands_by_and_takes_over_when_the_first_stops(
    engine: Ledgerflow,
) -> None:
    view = build_attempts_view(engine)
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    first = a_projection(engine, standby_poll_seconds=0.1)
    second = a_projection(engine, standby_poll_seconds=0.1)
    stop_first = asyncio.Event()
    first_running = asyncio.create_task(first.run(stop_first))
    await caught_up(engine, view)

    async with running(second):
        await asyncio.sleep(0.5)
        standing_by = (first.active, second.active)
        stop_first.set()
        await asyncio.wait_for(first_running, HANG)
        run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
        await caught_up(engine, view)
        took_over = second.active

    assert standing_by == (True, False)
    assert took_over
    assert [a.status for a in view.attempts_of(run.id)] == ["queued"]


async def test_the_projection_follows_again_after_its_database_sessions_are_killed(
    engine: Ledgerflow, settings: Settings
) -> None:
    view = build_attempts_view(engine)
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    projection = a_projection(engine, standby_poll_seconds=0.1)

    async with running(projection):
        await caught_up(engine, view)
        assert settings.database_url is not None
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database()"
            )
        run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
        await caught_up(engine, view)

    assert [a.status for a in view.attempts_of(run.id)] == ["queued"]
