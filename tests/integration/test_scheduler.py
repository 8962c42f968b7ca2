"""Cron schedules on real PostgreSQL: two scheduler replicas fire every tick exactly once."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from aggregates.names import DEFAULT_TENANT
from aggregates.schedule_tick import ScheduleTick
from engine.application import Ledgerflow
from gateways.scheduler import Scheduler
from ops.settings import Settings
from ops.system import _datastore, build_projection, build_schedules_view
from projections.schedules.projection import SCHEDULES
from tests.clocks import MovingClock
from tests.schedule_builders import a_scheduled_spec

pytestmark = pytest.mark.integration

HANG = 30.0
FIRED = get_topic(ScheduleTick.ScheduleFired)


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def replicas(settings: Settings, clock: MovingClock) -> Iterator[tuple[Ledgerflow, Ledgerflow]]:
    """Two engines (two Applications, two pools) on one schema, as on two replicas."""
    engines = tuple(Ledgerflow(env=settings.eventsourcing_env(), clock=clock) for _ in range(2))
    yield engines[0], engines[1]
    for engine in engines:
        engine.close()


def fired_ticks(engine: Ledgerflow) -> list[datetime]:
    """The scheduled instant of every `ScheduleFired` in the log, duplicates kept."""
    datastore = _datastore(engine)
    table = Identifier(datastore.schema), Identifier(f"{engine.name.lower()}_events")
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(
            SQL("SELECT originator_id FROM {}.{} WHERE topic = %s").format(*table), (FIRED,)
        )
        ids = [row["originator_id"] for row in cursor.fetchall()]
    return sorted(engine.repository.get(tick_id).scheduled_for for tick_id in ids)


async def wait_for_read_model(engine: Ledgerflow) -> None:
    view = build_schedules_view(engine)
    head = engine.recorder.max_notification_id() or 0
    await asyncio.to_thread(view.wait_for, head, HANG)


async def test_two_replicas_on_a_moved_clock_fire_every_tick_once(
    replicas: tuple[Ledgerflow, Ledgerflow], clock: MovingClock
) -> None:
    first, second = replicas
    start = clock()
    first.register_workflow(DEFAULT_TENANT, a_scheduled_spec(cron="* * * * * *"), first.origin("t"))
    stop = asyncio.Event()
    projection = asyncio.create_task(build_projection(first, SCHEDULES).run(stop))
    schedulers = [Scheduler(engine, build_schedules_view(engine)) for engine in replicas]
    try:
        await wait_for_read_model(first)
        for step in range(30):
            clock.advance(1)
            if step == 15:  # a replica restarts: it knows only what the read model says
                schedulers[1] = Scheduler(second, build_schedules_view(second))
            await asyncio.gather(*(scheduler.fire_due() for scheduler in schedulers))
    finally:
        stop.set()
        await projection

    ticks = fired_ticks(first)
    assert ticks == [start + timedelta(seconds=n) for n in range(1, 31)]


async def test_two_replicas_on_the_real_clock_fire_every_second_once(
    settings: Settings,
) -> None:
    engines = [Ledgerflow(env=settings.eventsourcing_env()) for _ in range(2)]
    first = engines[0]
    try:
        origin = first.origin("t")
        first.register_workflow(DEFAULT_TENANT, a_scheduled_spec(cron="* * * * * *"), origin)
        registered = origin.at  # the schedule fires after its registration event's time
        stop = asyncio.Event()
        tasks = [asyncio.create_task(build_projection(first, SCHEDULES).run(stop))]
        tasks += [
            asyncio.create_task(Scheduler(engine, build_schedules_view(engine)).run(stop))
            for engine in engines
        ]
        await asyncio.sleep(4.5)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), HANG)
        ended = first.clock()

        ticks = fired_ticks(first)

        expected = [registered.replace(microsecond=0) + timedelta(seconds=n) for n in range(1, 8)]
        assert len(ticks) == len(set(ticks)) >= 3
        assert ticks == [t for t in expected if t <= ended][: len(ticks)]
    finally:
        for engine in engines:
            engine.close()


async def test_a_scheduler_back_after_downtime_fires_the_latest_tick_once(
    engine: Ledgerflow, settings: Settings, clock: MovingClock
) -> None:
    scheduled = Ledgerflow(env=settings.eventsourcing_env(), clock=clock)
    start = clock()
    try:
        scheduled.register_workflow(
            DEFAULT_TENANT, a_scheduled_spec(misfire="fire_once"), scheduled.origin("t")
        )
        stop = asyncio.Event()
        projection = asyncio.create_task(build_projection(scheduled, SCHEDULES).run(stop))
        await wait_for_read_model(scheduled)
        clock.move_to(start.replace(second=0) + timedelta(minutes=5, seconds=30))  # down 5 ticks

        started = await Scheduler(scheduled, build_schedules_view(scheduled)).fire_due()
        await wait_for_read_model(scheduled)
        stop.set()
        await projection

        row = build_schedules_view(scheduled).of(DEFAULT_TENANT, "nightly")
        assert started == 1
        assert row is not None
        assert (row.fired_total, row.missed_total) == (1, 4)
        assert row.last_fired_tick == start.replace(second=0) + timedelta(minutes=5)
    finally:
        scheduled.close()
