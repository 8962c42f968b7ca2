"""`GET /metrics` on real PostgreSQL: schedule ticks fired, missed and late, from the read model."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aggregates.names import DEFAULT_TENANT
from engine.application import Ledgerflow
from gateways.scheduler import Scheduler
from ops.settings import Settings
from ops.system import build_projection, build_schedules_view
from projections.schedules.projection import SCHEDULES
from tests.clocks import MovingClock
from tests.integration.test_http_on_postgres import a_client
from tests.schedule_builders import a_scheduled_spec

pytestmark = pytest.mark.integration

HANG = 30.0
LABELS = {"tenant": DEFAULT_TENANT, "workflow": "nightly"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock(datetime.now(UTC).replace(second=0, microsecond=0))


@pytest.fixture
def scheduled(settings: Settings, clock: MovingClock) -> Iterator[Ledgerflow]:
    engine = Ledgerflow(env=settings.eventsourcing_env(), clock=clock)
    yield engine
    engine.close()


async def projected(engine: Ledgerflow) -> None:
    """Run the schedules projection until it has applied the whole log."""
    stop = asyncio.Event()
    projection = asyncio.create_task(build_projection(engine, SCHEDULES).run(stop))
    try:
        head = engine.recorder.max_notification_id() or 0
        await asyncio.to_thread(build_schedules_view(engine).wait_for, head, HANG)
    finally:
        stop.set()
        await projection


def scraped(engine: Ledgerflow) -> Samples:
    """Every sample `GET /metrics` shows, by name and labels."""
    with a_client(engine) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **extra: str) -> float:
    return samples[name, tuple(sorted({**LABELS, **extra}.items()))]


async def a_schedule_down_for_five_minutes_then_on_time(
    engine: Ledgerflow, clock: MovingClock, misfire: str
) -> None:
    """`nightly` fires every minute; the scheduler is down for five ticks, then back, then
    gets the next tick 30 ms late."""
    start = clock()
    engine.register_workflow(DEFAULT_TENANT, a_scheduled_spec(misfire=misfire), engine.origin("t"))
    await projected(engine)
    clock.move_to(start + timedelta(minutes=5, seconds=30))
    await Scheduler(engine, build_schedules_view(engine)).fire_due()
    await projected(engine)
    clock.move_to(start + timedelta(minutes=6, milliseconds=30))
    await Scheduler(engine, build_schedules_view(engine)).fire_due()
    await projected(engine)


async def test_missed_ticks_are_counted_per_workflow(
    scheduled: Ledgerflow, clock: MovingClock
) -> None:
    await a_schedule_down_for_five_minutes_then_on_time(scheduled, clock, misfire="skip")

    samples = scraped(scheduled)

    assert sample(samples, "ledgerflow_schedule_ticks_missed_total") == 5
    assert sample(samples, "ledgerflow_schedule_ticks_fired_total") == 1
    assert sample(samples, "ledgerflow_schedule_ticks_skipped_total") == 0


async def test_each_fire_adds_its_recorded_lateness_to_the_histogram(
    scheduled: Ledgerflow, clock: MovingClock
) -> None:
    await a_schedule_down_for_five_minutes_then_on_time(scheduled, clock, misfire="fire_once")

    samples = scraped(scheduled)

    lateness = "ledgerflow_schedule_fire_lateness_seconds"
    assert sample(samples, "ledgerflow_schedule_ticks_missed_total") == 4
    assert sample(samples, f"{lateness}_count") == 2  # the latest missed tick, then on time
    assert sample(samples, f"{lateness}_bucket", le="0.025") == 0
    assert sample(samples, f"{lateness}_bucket", le="0.05") == 1
    assert sample(samples, f"{lateness}_bucket", le="+Inf") == 2
    assert sample(samples, f"{lateness}_sum") == pytest.approx(30.03)
    assert sample(samples, "ledgerflow_schedule_last_fire_lateness_seconds") == 0.03


async def test_another_api_replica_started_later_shows_the_same_counts(
    scheduled: Ledgerflow, clock: MovingClock, settings: Settings
) -> None:
    await a_schedule_down_for_five_minutes_then_on_time(scheduled, clock, misfire="skip")
    first = scraped(scheduled)

    replica = Ledgerflow(env=settings.eventsourcing_env())
    try:
        again = scraped(replica)
    finally:
        replica.close()

    assert again == first
