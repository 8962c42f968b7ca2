"""Read models rebuilt from position 0, online, and their status: replay equals live."""

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from engine.application import Ledgerflow
from ops.settings import Settings
from ops.system import (
    build_engine,
    build_projection,
    build_projection_status,
    build_rebuilder,
    read_models,
)
from projections.tracked_projection import TrackedProjection
from tests.builders import a_spec
from tests.integration.loops import all_running
from tests.integration.test_read_model_contract import a_rich_history, dump

pytestmark = pytest.mark.integration

HANG = 60.0


@pytest.fixture
def engine(settings: Settings) -> Iterator[Ledgerflow]:
    """An engine whose pool holds every read model's follower, as the engine process's does."""
    engine = build_engine(replace(settings, pool_size=4 + 2 * len(read_models())))
    yield engine
    engine.close()


@asynccontextmanager
async def following(engine: Ledgerflow) -> AsyncIterator[Sequence[TrackedProjection]]:
    """Every read model's projection, running live as the engine process runs them."""
    projections = [build_projection(engine, model) for model in read_models()]
    async with all_running(*projections):
        yield projections


async def caught_up(engine: Ledgerflow) -> None:
    """Until every read model has applied the log up to its current head."""
    status = build_projection_status(engine)
    deadline = asyncio.get_running_loop().time() + HANG
    while any(s.lag_events for s in await asyncio.to_thread(status)):
        assert asyncio.get_running_loop().time() < deadline, "read models did not catch up"
        await asyncio.sleep(0.05)


def dump_all(engine: Ledgerflow) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model's tables (positions included), in a stable order."""
    return {table: rows for model in read_models() for table, rows in dump(model, engine).items()}


async def test_a_rebuild_from_position_zero_gives_the_same_rows_as_the_live_read_models(
    engine: Ledgerflow, settings: Settings
) -> None:
    async with following(engine):
        a_rich_history(engine)
        await caught_up(engine)
    live = dump_all(engine)

    rebuilt = build_rebuilder(engine).rebuild(read_models())

    assert [r.name for r in rebuilt] == [m.name for m in read_models()]
    assert {r.position for r in rebuilt} == {engine.recorder.max_notification_id()}
    assert dump_all(engine) == live
    assert sum(len(rows) for rows in live.values()) > 20


async def test_a_rebuild_while_runs_start_loses_and_duplicates_nothing(
    engine: Ledgerflow, settings: Settings
) -> None:
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    done = threading.Event()

    def keep_starting_runs() -> int:
        started = 0
        while not done.is_set() or started < 50:
            engine.start_run("default", "hello", {"n": started}, engine.origin("t"))
            started += 1
        return started

    async with following(engine):
        starting = asyncio.create_task(asyncio.to_thread(keep_starting_runs))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(build_rebuilder(engine).rebuild, read_models())
        done.set()
        started = await starting
        await caught_up(engine)
    live = dump_all(engine)
    build_rebuilder(engine).rebuild(read_models())

    assert len(live["runs"]) == started
    assert dump_all(engine) == live


async def test_a_read_model_built_by_another_version_is_rebuilt_once(
    engine: Ledgerflow, settings: Settings
) -> None:
    a_rich_history(engine)
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            SQL("UPDATE {}.projection_versions SET version = 0 WHERE name = 'runs'").format(
                Identifier(settings.schema)
            )
        )
    rebuilder = build_rebuilder(engine)
    before = {s.name: s.built_version for s in build_projection_status(engine)()}

    first, second = rebuilder.ensure_current(read_models()), rebuilder.ensure_current(read_models())

    after = {s.name: s.built_version for s in build_projection_status(engine)()}
    assert before["runs"] == 0
    assert [r.name for r in first] == ["runs"]
    assert second == []
    assert after == {m.name: m.version for m in read_models()}


async def test_status_reports_each_read_models_lag_and_whether_it_is_followed(
    engine: Ledgerflow,
) -> None:
    a_rich_history(engine)
    status = build_projection_status(engine)

    behind = status()
    async with following(engine):
        await caught_up(engine)
        current = status()

    head = engine.recorder.max_notification_id()
    assert [(s.position, s.head, s.lag_events, s.following) for s in behind] == [
        (0, head, head, False)
    ] * len(read_models())
    assert all(s.lag_seconds >= 0 for s in behind)
    assert [(s.position, s.lag_events, s.lag_seconds, s.following) for s in current] == [
        (head, 0, 0.0, True)
    ] * len(read_models())


async def test_writers_in_several_processes_never_make_a_follower_skip_an_event(
    engine: Ledgerflow, settings: Settings
) -> None:
    others = [build_engine(settings) for _ in range(2)]  # other pools: other processes
    engine.apply_workflow("default", a_spec(), engine.origin("t"))

    def start_runs(writer: Ledgerflow, count: int) -> None:
        for number in range(count):
            writer.start_run("default", "hello", {"n": number}, writer.origin("t"))

    try:
        async with following(engine):
            await asyncio.gather(
                *(asyncio.to_thread(start_runs, writer, 200) for writer in [engine, *others])
            )
            await caught_up(engine)
        live = dump_all(engine)
        build_rebuilder(engine).rebuild(read_models())
    finally:
        for other in others:
            other.close()

    assert len(live["runs"]) == 600
    assert dump_all(engine) == live
