"""The statistics projection on real PostgreSQL: hour and day buckets, replay from 0, tenants."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier

from aggregates.run import RunStatus, TaskReport
from engine.application import Ledgerflow
from ops.settings import Settings
from ops.system import build_statistics_tables, build_statistics_view
from projections.statistics.changes import RunClosed, RunOpened
from projections.statistics.histogram import DURATION_BOUNDS_MS, SLOTS
from projections.statistics.projection import STATISTICS
from projections.statistics.view import BucketRow, Granularity, StatisticsQuery, StatisticsView
from tests.builders import a_spec
from tests.clocks import MovingClock
from tests.integration.loops import running
from tests.integration.test_read_model_contract import a_projection

pytestmark = pytest.mark.integration

HANG = 30.0
TEN = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
ELEVEN = TEN + timedelta(hours=1)
ONE_TASK = [{"name": "a", "command": "echo a"}]


async def caught_up(engine: Ledgerflow, view: StatisticsView) -> None:
    head = await asyncio.to_thread(engine.recorder.max_notification_id)
    await asyncio.to_thread(view.wait_for, head or 0, HANG)


def a_run(
    engine: Ledgerflow,
    clock: MovingClock,
    *,
    started: datetime,
    took_ms: int | None,
    outcome: str = "succeeded",
    workflow: str = "etl",
    tenant: str = "default",
) -> UUID:
    """A run started at `started` that ends `took_ms` later with `outcome` (None: never)."""
    clock.move_to(started)
    run, _ = engine.start_run(tenant, workflow, {}, engine.origin("t"))
    if took_ms is None:
        return run.id
    clock.move_to(started + timedelta(milliseconds=took_ms))
    if outcome == "cancelled":
        engine.cancel_run(tenant, run.id, "not needed", engine.origin("t"))
        return run.id
    engine.record_reports(
        [
            TaskReport(run.id, tenant, "a", 1, 1, "w1", "started"),
            TaskReport(run.id, tenant, "a", 1, 1, "w1", outcome),  # type: ignore[arg-type]
        ]
    )
    return run.id


def a_history_over_two_hours(engine: Ledgerflow, clock: MovingClock) -> UUID:
    """Seven finished runs of `etl` (four end in the 10:00 hour, three in the 11:00 one, one
    of them started at 10:59), one still running, and runs of other workflows and tenants;
    returns the running one."""
    for tenant, workflow in (("default", "etl"), ("default", "other"), ("acme", "etl")):
        engine.apply_workflow(tenant, a_spec(workflow, ONE_TASK), engine.origin("t"))
    at = TEN + timedelta(minutes=5)
    a_run(engine, clock, started=at, took_ms=300)
    a_run(engine, clock, started=at + timedelta(minutes=5), took_ms=1500)
    a_run(engine, clock, started=at + timedelta(minutes=10), took_ms=4000, outcome="failed")
    a_run(engine, clock, started=at + timedelta(minutes=15), took_ms=40_000, outcome="cancelled")
    a_run(engine, clock, started=ELEVEN - timedelta(seconds=5), took_ms=12_000)
    a_run(engine, clock, started=ELEVEN + timedelta(minutes=1), took_ms=700)
    a_run(engine, clock, started=ELEVEN + timedelta(minutes=2), took_ms=90_000, outcome="failed")
    a_run(engine, clock, started=ELEVEN, took_ms=250, workflow="other")
    a_run(engine, clock, started=ELEVEN, took_ms=250, tenant="acme")
    return a_run(engine, clock, started=ELEVEN + timedelta(minutes=30), took_ms=None)


def summary(row: BucketRow) -> tuple[Any, ...]:
    return (
        row.bucket_start,
        (row.finished, row.succeeded, row.failed, row.cancelled),
        round(row.success_rate, 4),
        [row.percentile_ms(p) for p in (50, 95, 99)],
        (row.mean_ms, row.duration_max_ms),
    )


def dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read model's tables, in a stable order."""
    queries = {
        "open": SQL("SELECT * FROM {}.statistics_open_runs ORDER BY run_id"),
        "buckets": SQL(
            "SELECT * FROM {}.workflow_statistics "
            "ORDER BY tenant, workflow, granularity, bucket_start"
        ),
    }
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        return {
            table: conn.execute(query.format(Identifier(settings.schema))).fetchall()
            for table, query in queries.items()
        }


async def test_finished_runs_count_in_the_hour_they_ended_with_rate_and_percentiles(
    engine_on_clock: Ledgerflow, clock: MovingClock
) -> None:
    engine = engine_on_clock
    view = build_statistics_view(engine)
    a_history_over_two_hours(engine, clock)

    async with running(a_projection(STATISTICS, engine)):
        await caught_up(engine, view)

    hours = view.buckets("default", "etl", StatisticsQuery(Granularity.HOUR))
    assert [summary(row) for row in hours] == [
        (ELEVEN, (3, 2, 1, 0), 0.6667, [20_000, 90_000, 90_000], (34_233, 90_000)),
        (TEN, (4, 2, 1, 1), 0.5, [2000, 40_000, 40_000], (11_450, 40_000)),
    ]


async def test_a_day_bucket_counts_every_run_that_ended_that_utc_day(
    engine_on_clock: Ledgerflow, clock: MovingClock
) -> None:
    engine = engine_on_clock
    view = build_statistics_view(engine)
    a_history_over_two_hours(engine, clock)

    async with running(a_projection(STATISTICS, engine)):
        await caught_up(engine, view)

    (day,) = view.buckets("default", "etl", StatisticsQuery(Granularity.DAY))
    midnight = datetime(2026, 5, 1, tzinfo=UTC)
    assert summary(day) == (
        midnight,
        (7, 4, 2, 1),
        0.5714,
        [5000, 90_000, 90_000],
        (21_214, 90_000),
    )


async def test_workflows_and_tenants_are_counted_apart_and_running_runs_not_at_all(
    engine_on_clock: Ledgerflow, clock: MovingClock, settings: Settings
) -> None:
    engine = engine_on_clock
    view = build_statistics_view(engine)
    running_run = a_history_over_two_hours(engine, clock)

    async with running(a_projection(STATISTICS, engine)):
        await caught_up(engine, view)

    for tenant, workflow in (("default", "other"), ("acme", "etl")):
        (hour,) = view.buckets(tenant, workflow, StatisticsQuery(Granularity.HOUR))
        assert summary(hour) == (ELEVEN, (1, 1, 0, 0), 1.0, [250, 250, 250], (250, 250))
    assert view.buckets("acme", "other", StatisticsQuery()) == []
    assert [row[0] for row in dump(settings)["open"]] == [running_run]


async def test_buckets_are_paged_newest_first_within_a_window(
    engine_on_clock: Ledgerflow, clock: MovingClock
) -> None:
    engine = engine_on_clock
    view = build_statistics_view(engine)
    a_history_over_two_hours(engine, clock)
    async with running(a_projection(STATISTICS, engine)):
        await caught_up(engine, view)

    def starts(**query: Any) -> list[datetime]:
        rows = view.buckets("default", "etl", StatisticsQuery(Granularity.HOUR, **query))
        return [row.bucket_start for row in rows]

    assert starts(limit=1) == [ELEVEN]
    assert starts(limit=1, before=ELEVEN) == [TEN]
    assert starts(since=TEN + timedelta(minutes=1)) == [ELEVEN]
    assert starts(until=ELEVEN) == [TEN]
    assert starts(since=ELEVEN + timedelta(hours=1)) == []


async def test_a_run_that_ends_without_a_recorded_start_counts_nowhere(
    engine: Ledgerflow, settings: Settings
) -> None:
    tables = build_statistics_tables(engine)
    at = datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    opened = RunOpened(UUID(int=1), "default", "etl", at)
    closed = RunClosed(UUID(int=1), RunStatus.SUCCEEDED, at + timedelta(seconds=2))
    stray = RunClosed(UUID(int=2), RunStatus.FAILED, at)

    applied = [
        tables.apply([stray], Tracking(engine.name, 1), 0),
        tables.apply(
            [opened, closed, replace(closed, at=at + timedelta(seconds=9))],
            Tracking(engine.name, 2),
            1,
        ),
    ]

    assert applied == [True, True]
    rows = build_statistics_view(engine).buckets("default", "etl", StatisticsQuery())
    assert [(row.finished, row.duration_max_ms) for row in rows] == [(1, 2000)]
    assert dump(settings)["open"] == []


async def test_each_duration_is_counted_in_the_slot_whose_bound_it_does_not_exceed(
    engine: Ledgerflow,
) -> None:
    tables = build_statistics_tables(engine)
    ended = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    durations = {0: 0, 1: 0, 2: 1, 3: 2, 5000: 11, 5001: 12, 86_400_000: 24, 86_400_001: 25}
    changes: list[RunOpened | RunClosed] = []
    for number, took in enumerate(durations, start=1):
        started = ended - timedelta(milliseconds=took)
        changes.append(RunOpened(UUID(int=number), "default", "etl", started))
        changes.append(RunClosed(UUID(int=number), RunStatus.SUCCEEDED, ended))

    tables.apply(changes, Tracking(engine.name, 1), 0)

    (day,) = build_statistics_view(engine).buckets(
        "default", "etl", StatisticsQuery(Granularity.DAY)
    )
    expected = [0] * SLOTS
    for slot in durations.values():
        expected[slot] += 1
    assert list(day.histogram) == expected
    assert [DURATION_BOUNDS_MS[slot] for slot in (1, 2, 11, 24)] == [2, 5, 5000, 86_400_000]
    assert (day.duration_max_ms, day.percentile_ms(100)) == (86_400_001, 86_400_001)
