"""The event relay on real PostgreSQL and nats-server: the stream holds exactly the log.

The consumer here is independent of Ledgerflow's code: nats-py reads the stream from sequence 1
and the `cloudevents` SDK parses (and so validates) each message.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from eventsourcing.postgres import PostgresTrackingRecorder
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from psycopg.sql import SQL, Identifier

from aggregates.run import TaskReport
from aggregates.worker import Heartbeat
from engine.application import Ledgerflow
from engine.cloud_events import cloud_event_id, cloud_event_type
from ops.events import events_republish
from ops.settings import Settings
from ops.system import EVENT_RELAY_TRACKING_TABLE, build_tracking
from streams.event_relay import EventRelay
from streams.subjects import Subjects
from streams.topology import EventsRetention, declare_events_stream
from tests.builders import a_spec
from tests.integration.loops import running

pytestmark = pytest.mark.integration

HANG = 30.0
RETENTION = EventsRetention(max_age_seconds=3600.0, max_bytes=64 * 1024 * 1024)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def tracking(engine: Ledgerflow) -> PostgresTrackingRecorder:
    return build_tracking(engine, EVENT_RELAY_TRACKING_TABLE)


@pytest.fixture
async def events_stream(nc: NatsClient, subjects: Subjects) -> str:
    await declare_events_stream(nc.jetstream(), subjects, RETENTION)
    return subjects.events_stream


def some_history(engine: Ledgerflow, runs: int = 3) -> None:
    """Events of every aggregate: workflows, runs that succeed, fail and are cancelled, a worker."""
    origin = engine.origin("tester")
    tasks: list[dict[str, Any]] = [
        {"name": "a", "command": "true"},
        {"name": "b", "command": "true", "depends_on": ["a"]},
    ]
    engine.apply_workflow("default", a_spec("pair", tasks), origin)
    for _ in range(runs):
        run, _ = engine.start_run("default", "pair", {"n": 1}, origin)
        engine.record_reports(
            [
                TaskReport(run.id, "default", "a", 1, 1, "w1", "started"),
                TaskReport(run.id, "default", "a", 1, 1, "w1", "succeeded", exit_code=0),
                TaskReport(run.id, "default", "b", 1, 1, "w1", "started"),
                TaskReport(run.id, "default", "b", 1, 1, "w1", "failed", exit_code=2, error="x"),
            ]
        )
    cancelled, _ = engine.start_run("default", "pair", {}, origin)
    engine.cancel_run("default", cancelled.id, "enough", origin)
    engine.record_heartbeat(Heartbeat("w1", "i1", ("default",), 4, "0.1.0", "host", "running"))


def the_log(engine: Ledgerflow) -> list[tuple[str, str, str]]:
    """(CloudEvent id, type, subject) of every event in the store, in log order."""
    notifications = engine.recorder.select_notifications(start=1, limit=100_000)
    return [
        (
            cloud_event_id(n.id),
            cloud_event_type(type(engine.mapper.to_domain_event(n))),
            str(n.originator_id),
        )
        for n in notifications
    ]


async def the_stream(nc: NatsClient, subjects: Subjects) -> list[tuple[str, str, str]]:
    """(id, type, subject) of every message in the events stream, from sequence 1."""
    js = nc.jetstream()
    info = await js.stream_info(subjects.events_stream)
    subscription = await js.subscribe(
        subjects.events_wildcard,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    found: list[tuple[str, str, str]] = []
    try:
        for _ in range(info.state.messages):
            message = await subscription.next_msg(timeout=HANG)
            event = JSONFormat().read(None, message.data)
            assert message.subject == _subject_of(subjects, event.get_attributes())
            found.append((event.get_id(), event.get_type(), str(event.get_subject())))
    finally:
        await subscription.unsubscribe()
    return found


def _subject_of(subjects: Subjects, attributes: dict[str, Any]) -> str:
    _, _, aggregate, event, _ = str(attributes["type"]).split(".")
    return subjects.events(str(attributes["tenant"]), aggregate, event)


async def caught_up(relay: EventRelay, engine: Ledgerflow) -> bool:
    head = await asyncio.to_thread(engine.recorder.max_notification_id)
    return relay.position == head


async def test_the_stream_holds_every_event_of_the_log_in_order_as_cloudevents(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
    events_stream: str,
) -> None:
    some_history(engine)
    relay = EventRelay(engine, tracking, nc.jetstream(), subjects)

    async with running(relay):
        await eventually(lambda: caught_up(relay, engine))

    assert await the_stream(nc, subjects) == the_log(engine)
    assert relay.tracked_position() == engine.recorder.max_notification_id()
    assert relay.publisher.one_by_one == 0  # every batch went pipelined


async def test_a_restarted_relay_continues_where_it_stopped_and_stores_nothing_twice(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
    events_stream: str,
) -> None:
    some_history(engine, runs=1)
    async with running(EventRelay(engine, tracking, nc.jetstream(), subjects)) as first:
        await eventually(lambda: caught_up(first, engine))
    some_history(engine, runs=2)

    async with running(EventRelay(engine, tracking, nc.jetstream(), subjects)) as second:
        await eventually(lambda: caught_up(second, engine))

    assert await the_stream(nc, subjects) == the_log(engine)
    assert (second.publisher.duplicates, second.publisher.one_by_one) == (0, 0)


async def test_a_relay_that_lost_its_position_republishes_into_the_same_stream_without_copies(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
    events_stream: str,
) -> None:
    some_history(engine)
    async with running(EventRelay(engine, tracking, nc.jetstream(), subjects)) as first:
        await eventually(lambda: caught_up(first, engine))
    # A crash between publishing and recording the position, at its worst: nothing recorded.
    with tracking.datastore.get_connection() as conn:
        table = Identifier(tracking.datastore.schema, EVENT_RELAY_TRACKING_TABLE)
        conn.execute(SQL("DELETE FROM {}").format(table))
    some_history(engine, runs=1)

    async with running(EventRelay(engine, tracking, nc.jetstream(), subjects)) as second:
        await eventually(lambda: caught_up(second, engine))

    assert await the_stream(nc, subjects) == the_log(engine)
    assert second.publisher.duplicates > 0


async def test_only_one_of_two_relays_publishes_and_the_stream_has_each_event_once(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
    events_stream: str,
) -> None:
    some_history(engine)
    one = EventRelay(engine, tracking, nc.jetstream(), subjects, standby_poll_seconds=0.1)
    other = EventRelay(engine, tracking, nc.jetstream(), subjects, standby_poll_seconds=0.1)

    async with running(one), running(other):
        await eventually(lambda: _either_caught_up(engine, one, other))
        assert one.active != other.active

    assert await the_stream(nc, subjects) == the_log(engine)


async def _either_caught_up(engine: Ledgerflow, *relays: EventRelay) -> bool:
    return any([await caught_up(relay, engine) for relay in relays])


async def test_republish_refills_a_lost_stream_from_the_log(
    *,
    settings: Settings,
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
    events_stream: str,
) -> None:
    some_history(engine)
    async with running(EventRelay(engine, tracking, nc.jetstream(), subjects)) as relay:
        await eventually(lambda: caught_up(relay, engine))
    await nc.jetstream().delete_stream(events_stream)
    with pytest.raises(NotFoundError):
        await nc.jetstream().stream_info(events_stream)

    await asyncio.to_thread(events_republish, settings, 1)

    assert await the_stream(nc, subjects) == the_log(engine)


async def test_republishing_what_the_stream_holds_changes_nothing(
    *,
    settings: Settings,
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
    events_stream: str,
) -> None:
    some_history(engine)
    async with running(EventRelay(engine, tracking, nc.jetstream(), subjects)) as relay:
        await eventually(lambda: caught_up(relay, engine))

    await asyncio.to_thread(events_republish, settings, 3)

    assert await the_stream(nc, subjects) == the_log(engine)
