"""What every read model promises, on real PostgreSQL, checked once for each of `read_models()`:
live equals a replay from position 0, a batch commits with its position or not at all, a stale
batch changes nothing, and one replica follows while another stands by."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier

from aggregates.run import TaskReport
from aggregates.worker import Heartbeat
from engine.application import Ledgerflow
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine, build_tables, read_models
from projections.read_model import ReadModel
from projections.tracked_projection import TrackedProjection
from tests.builders import a_spec
from tests.integration.loops import running
from tests.schedule_builders import a_scheduled_spec

pytestmark = pytest.mark.integration

HANG = 30.0
MODELS = {model.name: model for model in read_models()}
RETRYING = [{"name": "a", "command": "false", "retry": {"max_attempts": 3, "jitter": False}}]


@pytest.fixture(params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> ReadModel:
    return MODELS[request.param]


def a_projection(
    model: ReadModel, engine: Ledgerflow, into: Ledgerflow | None = None, **options: Any
) -> TrackedProjection:
    """`model`'s projection of `engine`'s log, into `into`'s schema (by default the same)."""
    return TrackedProjection.of(
        model,
        build_tables(into or engine, model),
        log=engine.recorder,
        decode=engine.mapper.to_domain_event,
        application_name=engine.name,
        **options,
    )


async def caught_up(model: ReadModel, log: Ledgerflow, tables: Ledgerflow | None = None) -> None:
    """Until the read model in `tables`'s schema has followed `log`'s engine to its head."""
    head = await asyncio.to_thread(log.recorder.max_notification_id) or 0
    recorder = build_tables(tables or log, model)
    deadline = asyncio.get_running_loop().time() + HANG
    while (recorder.max_tracking_id(log.name) or 0) < head:
        assert asyncio.get_running_loop().time() < deadline, f"{model.name} did not catch up"
        await asyncio.sleep(0.05)


def report(run_id: UUID, task: str, outcome: str) -> TaskReport:
    return TaskReport(run_id, "default", task, 1, 1, "w1", outcome)  # type: ignore[arg-type]


def a_beat(state: str = "running") -> Heartbeat:
    return Heartbeat("w1", "i1", ("default",), 4, "0.1.0", "box", state)  # type: ignore[arg-type]


def a_rich_history(engine: Ledgerflow) -> None:
    """Something for every read model: workflows registered, revised and scheduled; runs that
    succeed, fail, retry, get cancelled, keep running or fire from a schedule; a worker."""
    origin = engine.origin
    engine.apply_workflow("default", a_spec(), origin("t"))
    revised = a_spec().model_copy(update={"description": "Say hello."})
    engine.apply_workflow("default", revised, origin("t"))
    engine.apply_workflow("default", a_spec("retrying", RETRYING), origin("t"))
    engine.apply_workflow("default", a_scheduled_spec("nightly", cron="0 3 * * *"), origin("t"))
    done, _ = engine.start_run("default", "hello", {}, origin("t"))
    for task in ("a", "b", "c"):
        engine.record_reports(
            [report(done.id, task, "started"), report(done.id, task, "succeeded")]
        )
    failed, _ = engine.start_run("default", "hello", {}, origin("t"))
    engine.record_reports([report(failed.id, "a", "started"), report(failed.id, "a", "failed")])
    engine.retry_run("default", failed.id, origin("t"))
    retried, _ = engine.start_run("default", "retrying", {}, origin("t"))
    engine.record_reports([report(retried.id, "a", "started"), report(retried.id, "a", "failed")])
    cancelled, _ = engine.start_run("default", "hello", {}, origin("t"))
    engine.cancel_run("default", cancelled.id, "not needed", origin("t"))
    still_running, _ = engine.start_run("default", "hello", {}, origin("t"))
    engine.record_reports([report(still_running.id, "a", "started")])
    engine.backfill(
        "default",
        "nightly",
        datetime(2026, 5, 1, tzinfo=UTC),
        datetime(2026, 5, 3, tzinfo=UTC),
        origin("t"),
    )
    engine.pause_schedule("default", "nightly", "maintenance", origin("t"))
    engine.record_heartbeat(a_beat())
    engine.record_heartbeat(a_beat("draining"))


def dump(model: ReadModel, engine: Ledgerflow) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read model's tables, its tracking table included, in a stable order."""
    tables = build_tables(engine, model)
    schema = Identifier(tables.datastore.schema)
    with tables.datastore.transaction(commit=False) as cursor:
        dumped = {}
        for table in tables.tables:
            cursor.execute(SQL("SELECT * FROM {}.{}").format(schema, Identifier(table)))
            dumped[table] = sorted(map(tuple, cursor.fetchall()), key=repr)
    return dumped


def changes_of_the_log(model: ReadModel, engine: Ledgerflow) -> tuple[list[Any], int]:
    notifications = engine.recorder.select_notifications(start=1, limit=10_000)
    changes = [
        change
        for notification in notifications
        for change in model.changes_for(engine.mapper.to_domain_event(notification))
    ]
    return changes, notifications[-1].id


async def test_what_was_applied_live_equals_a_replay_from_zero_into_an_empty_schema(
    model: ReadModel, engine: Ledgerflow, settings: Settings, unique_name: str
) -> None:
    async with running(a_projection(model, engine, batch_size=3)):
        a_rich_history(engine)  # applied live, as it happens
        await caught_up(model, engine)
    elsewhere = replace(settings, schema=f"{unique_name}_replay")
    migrate(elsewhere)
    replay_schema = build_engine(elsewhere)

    try:
        async with running(a_projection(model, engine, into=replay_schema)):
            await caught_up(model, engine, replay_schema)
        replayed = dump(model, replay_schema)
    finally:
        replay_schema.close()

    live = dump(model, engine)
    assert replayed == live
    *rows, _tracking = live.values()
    assert any(rows), "the history gave the read model nothing to hold"


async def test_a_reset_read_model_is_rebuilt_from_position_zero(
    model: ReadModel, engine: Ledgerflow
) -> None:
    a_rich_history(engine)
    async with running(a_projection(model, engine)):
        await caught_up(model, engine)
    before = dump(model, engine)

    tables = build_tables(engine, model)
    tables.reset(engine.name)
    *emptied, _tracking = dump(model, engine).values()
    emptied_at = tables.max_tracking_id(engine.name) or 0
    async with running(a_projection(model, engine)):
        await caught_up(model, engine)

    assert (emptied, emptied_at) == ([[]] * len(emptied), 0)
    assert dump(model, engine) == before


async def test_a_batch_that_does_not_follow_the_recorded_position_changes_nothing(
    model: ReadModel, engine: Ledgerflow
) -> None:
    a_rich_history(engine)
    async with running(a_projection(model, engine)):
        await caught_up(model, engine)
    before = dump(model, engine)
    changes, head = changes_of_the_log(model, engine)
    tables = build_tables(engine, model)

    applied_again = [
        tables.apply(changes, Tracking(engine.name, head), 0),
        tables.apply(changes[:4], Tracking(engine.name, head + 9), 4),
        tables.apply(changes[:4], Tracking(engine.name, 4), 0),
    ]

    assert applied_again == [False, False, False]
    assert dump(model, engine) == before


async def test_a_batch_that_fails_part_way_leaves_neither_rows_nor_its_position(
    model: ReadModel, engine: Ledgerflow
) -> None:
    a_rich_history(engine)
    changes, head = changes_of_the_log(model, engine)
    tables = build_tables(engine, model)

    with pytest.raises(KeyError):  # no statement applies a change of an unknown kind
        tables.apply([*changes, object()], Tracking(engine.name, head), 0)

    *rows, _tracking = dump(model, engine).values()
    assert rows == [[]] * len(rows)
    assert (tables.max_tracking_id(engine.name) or 0) == 0


async def test_events_the_read_model_ignores_still_advance_its_position(
    model: ReadModel, engine: Ledgerflow
) -> None:
    engine.record_heartbeat(a_beat())
    engine.apply_workflow("default", a_spec(), engine.origin("t"))

    async with running(a_projection(model, engine)):
        await caught_up(model, engine)

    position = build_tables(engine, model).max_tracking_id(engine.name)
    assert position == engine.recorder.max_notification_id()


async def test_a_second_replica_stands_by_and_takes_over_when_the_first_stops(
    model: ReadModel, engine: Ledgerflow
) -> None:
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    first = a_projection(model, engine, standby_poll_seconds=0.1)
    second = a_projection(model, engine, standby_poll_seconds=0.1)
    stop_first = asyncio.Event()
    first_running = asyncio.create_task(first.run(stop_first))
    await caught_up(model, engine)

    async with running(second):
        await asyncio.sleep(0.5)
        standing_by = (first.active, second.active)
        stop_first.set()
        await asyncio.wait_for(first_running, HANG)
        a_rich_history(engine)
        await caught_up(model, engine)
        took_over = second.active

    assert standing_by == (True, False)
    assert took_over


async def test_the_projection_follows_again_after_its_database_sessions_are_killed(
    model: ReadModel, engine: Ledgerflow, settings: Settings
) -> None:
    engine.apply_workflow("default", a_spec(), engine.origin("t"))

    async with running(a_projection(model, engine, standby_poll_seconds=0.1)):
        await caught_up(model, engine)
        assert settings.database_url is not None
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database()"
            )
        a_rich_history(engine)
        await caught_up(model, engine)
