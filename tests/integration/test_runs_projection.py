"""The runs projection on real PostgreSQL: rows, listings, replay from 0, exactly-once batches."""

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from aggregates.run import TaskReport
from engine.application import Ledgerflow
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine, build_runs_view
from projections.runs.projection import RUNS
from projections.runs.view import RunQuery, RunsView, WorkflowQuery
from tests.builders import a_spec
from tests.integration.loops import running
from tests.integration.test_read_model_contract import a_projection

pytestmark = pytest.mark.integration

HANG = 30.0


async def caught_up(engine: Ledgerflow, view: RunsView) -> None:
    head = await asyncio.to_thread(engine.recorder.max_notification_id)
    await asyncio.to_thread(view.wait_for, head or 0, HANG)


def report(run_id: UUID, task: str, outcome: str, **fields: Any) -> TaskReport:
    return TaskReport(run_id, "default", task, 1, 1, "w1", outcome, **fields)  # type: ignore[arg-type]


def succeed(engine: Ledgerflow, run_id: UUID, *tasks: str) -> None:
    for task in tasks:
        engine.record_reports([report(run_id, task, "started"), report(run_id, task, "succeeded")])


@dataclass(frozen=True)
class History:
    succeeded: UUID
    failed: UUID
    cancelled: UUID
    retry: UUID
    running: UUID


def a_mixed_history(engine: Ledgerflow) -> History:
    """Runs of `hello` (A -> B, C) that succeed, fail, get cancelled, retry and keep running;
    `hello` is revised once, and `idle` never runs."""
    origin = engine.origin
    engine.apply_workflow("default", a_spec(), origin("t"))
    revised = a_spec().model_copy(update={"description": "Say hello."})
    engine.apply_workflow("default", revised, origin("t"))
    engine.apply_workflow("default", a_spec("idle"), origin("t"))
    succeeded, _ = engine.start_run("default", "hello", {}, origin("t"))
    succeed(engine, succeeded.id, "a", "b", "c")
    failed, _ = engine.start_run("default", "hello", {}, origin("t"))
    engine.record_reports([report(failed.id, "a", "started"), report(failed.id, "a", "failed")])
    cancelled, _ = engine.start_run("default", "hello", {}, origin("t"))
    engine.cancel_run("default", cancelled.id, "not needed", origin("t"))
    retry = engine.retry_run("default", failed.id, origin("t"))
    still_running, _ = engine.start_run("default", "hello", {}, origin("t"))
    engine.record_reports([report(still_running.id, "a", "started")])
    return History(succeeded.id, failed.id, cancelled.id, retry.id, still_running.id)


def dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read model's tables, in a stable order."""
    queries = {
        "runs": SQL("SELECT * FROM {}.runs ORDER BY run_id"),
        "workflows": SQL("SELECT * FROM {}.workflows ORDER BY tenant, name"),
    }
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        return {
            table: conn.execute(query.format(Identifier(settings.schema))).fetchall()
            for table, query in queries.items()
        }


async def test_each_run_has_a_row_with_its_status_times_and_duration(engine: Ledgerflow) -> None:
    view = build_runs_view(engine)
    history = a_mixed_history(engine)

    async with running(a_projection(RUNS, engine)):
        await caught_up(engine, view)

    rows = {run_id: view.run("default", run_id) for run_id in vars(history).values()}
    done = engine.get_run("default", history.succeeded)
    row = rows[history.succeeded]
    assert row is not None
    assert (row.workflow, row.workflow_version, row.status, row.trigger) == (
        "hello",
        2,
        "succeeded",
        "api",
    )
    assert (row.created_at, row.started_at) == (done.created_on, done.tasks["a"].started_at)
    assert row.finished_at == done.finished_at
    assert done.finished_at is not None
    elapsed = (done.finished_at - done.created_on) / timedelta(milliseconds=1)
    assert row.duration_ms is not None
    assert abs(row.duration_ms - elapsed) <= 0.5
    assert row.task_count == 3
    statuses = {run_id: (r.status, r.reason) for run_id, r in rows.items() if r is not None}
    assert statuses[history.failed] == ("failed", engine.get_run("default", history.failed).reason)
    assert statuses[history.cancelled] == ("cancelled", "not needed")
    assert statuses[history.running] == ("running", None)
    retry = rows[history.retry]
    assert retry is not None
    assert (retry.trigger, retry.retry_of, retry.status) == ("retry", history.failed, "queued")
    assert retry.started_at is None


async def test_each_workflow_has_its_current_version_run_count_and_last_run(
    engine: Ledgerflow,
) -> None:
    view = build_runs_view(engine)
    history = a_mixed_history(engine)

    async with running(a_projection(RUNS, engine)):
        await caught_up(engine, view)

    hello, idle = view.workflows("default", WorkflowQuery())
    assert (hello.name, hello.current_version, hello.description) == ("hello", 2, "Say hello.")
    assert (hello.run_count, hello.last_run_id, hello.last_run_status) == (
        5,
        history.running,
        "running",
    )
    assert hello.last_run_at == engine.get_run("default", history.running).created_on
    assert hello.updated_at > hello.created_at
    assert (idle.name, idle.run_count, idle.last_run_id) == ("idle", 0, None)


async def test_runs_are_listed_newest_first_by_filter_and_page(engine: Ledgerflow) -> None:
    view = build_runs_view(engine)
    history = a_mixed_history(engine)
    async with running(a_projection(RUNS, engine)):
        await caught_up(engine, view)
    newest_first = [
        history.running,
        history.retry,
        history.cancelled,
        history.failed,
        history.succeeded,
    ]

    def listed(**query: Any) -> list[UUID]:
        return [row.run_id for row in view.runs("default", RunQuery(**query))]

    pages = [view.runs("default", RunQuery(limit=2))]
    while len(pages[-1]) == 2:
        pages.append(view.runs("default", RunQuery(limit=2, after=pages[-1][-1].position)))

    assert [row.run_id for page in pages for row in page] == newest_first
    assert listed(statuses=("failed", "cancelled")) == [history.cancelled, history.failed]
    assert listed(triggers=("retry",)) == [history.retry]
    assert listed(workflows=("idle",)) == []
    cancelled_at = view.run("default", history.cancelled)
    assert cancelled_at is not None
    window = {"created_after": cancelled_at.created_at}
    assert listed(**window) == newest_first[:3]
    assert listed(created_before=cancelled_at.created_at) == newest_first[3:]
    assert view.runs("acme", RunQuery()) == []


async def test_retirement_restoration_and_adhoc_runs_replay_into_the_same_rows(
    engine: Ledgerflow, settings: Settings, unique_name: str
) -> None:
    view = build_runs_view(engine)
    origin = engine.origin
    engine.apply_workflow("default", a_spec(), origin("t"))
    engine.apply_workflow("default", a_spec("gone"), origin("t"))
    engine.apply_workflow("default", a_spec("back"), origin("t"))
    engine.retire_workflow("default", "gone", "replaced", origin("t"))
    engine.retire_workflow("default", "back", None, origin("t"))
    engine.apply_workflow("default", a_spec("back"), origin("t"))
    adhoc, _ = engine.start_adhoc_run("default", a_spec(), {}, origin("t"))
    async with running(a_projection(RUNS, engine, batch_size=2)):
        await caught_up(engine, view)
    elsewhere = replace(settings, schema=f"{unique_name}_replay")
    migrate(elsewhere)
    replay_schema = build_engine(elsewhere)
    try:
        async with running(a_projection(RUNS, engine, into=replay_schema)):
            await caught_up(engine, build_runs_view(replay_schema))
    finally:
        replay_schema.close()

    active = view.workflows("default", WorkflowQuery())
    every = {
        row.name: row for row in view.workflows("default", WorkflowQuery(include_retired=True))
    }
    row = view.run("default", adhoc.id)
    assert [w.name for w in active] == ["back", "hello"]
    assert every["gone"].retired_at == engine.get_workflow("default", "gone").retired_at
    assert (every["back"].retired_at, every["back"].current_version) == (None, 2)
    assert row is not None
    assert (row.workflow, row.workflow_version, row.trigger) == ("hello", 0, "adhoc")
    assert (every["hello"].run_count, every["hello"].last_run_id) == (0, None)
    assert dump(elsewhere) == dump(settings)
