"""The cancel relay on real PostgreSQL and nats-server: cancels reach the bucket and workers."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from eventsourcing.postgres import PostgresTrackingRecorder
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError

from aggregates.run import Run, TaskReport
from engine.application import Ledgerflow
from ops.system import build_tracking
from streams.control import CancelRelay
from streams.messages import CancelAttempt
from streams.subjects import Subjects
from tests.builders import a_spec
from tests.integration.loops import running

pytestmark = pytest.mark.integration

HANG = 30.0
TRACKING_TABLE = "cancel_relay_tracking"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def tracking(engine: Ledgerflow) -> PostgresTrackingRecorder:
    recorder = build_tracking(engine, TRACKING_TABLE)
    recorder.create_table()
    return recorder


@contextlib.asynccontextmanager
async def listening(nc: NatsClient, subject: str) -> AsyncIterator[list[CancelAttempt]]:
    received: list[CancelAttempt] = []

    async def collect(message: Msg) -> None:
        received.append(CancelAttempt.model_validate_json(message.data))

    subscription = await nc.subscribe(subject, cb=collect)
    await nc.flush()
    try:
        yield received
    finally:
        await subscription.unsubscribe()


def a_run_with_a_running_and_a_queued_task(engine: Ledgerflow) -> Run:
    """Tasks `a` (running on worker w1) and `b` (queued), both roots."""
    tasks = [{"name": "a", "command": "sleep 60"}, {"name": "b", "command": "sleep 60"}]
    engine.apply_workflow("default", a_spec("pair", tasks), engine.origin("tester"))
    run, _ = engine.start_run("default", "pair", {}, engine.origin("tester"))
    engine.record_reports([TaskReport(run.id, "default", "a", 1, 1, "w1", "started")])
    return run


async def test_a_cancelled_run_is_in_the_bucket_and_its_running_attempt_is_signalled(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
) -> None:
    run = a_run_with_a_running_and_a_queued_task(engine)
    relay = CancelRelay(engine, tracking, nc.jetstream(), nc, subjects)

    async with listening(nc, subjects.control("*")) as signals, running(relay):
        engine.cancel_run("default", run.id, "no longer needed", engine.origin("tester"))

        await eventually(lambda: _counted(relay, "cancelled_runs", 1))
        await eventually(lambda: _received(signals, 1))

    assert signals == [CancelAttempt(run_id=run.id, task="a", attempt=1)]
    bucket = await nc.jetstream().key_value(subjects.cancelled_runs_bucket)
    assert (await bucket.get(str(run.id))).value
    assert relay.position == engine.recorder.max_notification_id()


async def test_the_signal_goes_to_the_control_subject_of_the_worker_that_ran_the_attempt(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
) -> None:
    run = a_run_with_a_running_and_a_queued_task(engine)
    relay = CancelRelay(engine, tracking, nc.jetstream(), nc, subjects)

    async with (
        listening(nc, subjects.control("w1")) as for_w1,
        listening(nc, subjects.control("w2")) as for_w2,
        running(relay),
    ):
        engine.cancel_run("default", run.id, "stop", engine.origin("tester"))
        await eventually(lambda: _received(for_w1, 1))

    assert [(signal.task, signal.attempt) for signal in for_w1] == [("a", 1)]
    assert for_w2 == []


async def test_a_restarted_relay_continues_from_its_position_and_relays_nothing_twice(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
) -> None:
    first = a_run_with_a_running_and_a_queued_task(engine)
    engine.cancel_run("default", first.id, "stop", engine.origin("tester"))
    async with running(CancelRelay(engine, tracking, nc.jetstream(), nc, subjects)) as relay:
        await eventually(lambda: _counted(relay, "cancelled_runs", 1))
    second = a_run_with_a_running_and_a_queued_task(engine)

    restarted = CancelRelay(engine, tracking, nc.jetstream(), nc, subjects)
    async with listening(nc, subjects.control("*")) as signals, running(restarted):
        engine.cancel_run("default", second.id, "stop", engine.origin("tester"))
        await eventually(lambda: _counted(restarted, "cancelled_runs", 1))
        await eventually(lambda: _received(signals, 1))
        await asyncio.sleep(0.2)  # room for a wrongly repeated signal to arrive

    assert [signal.run_id for signal in signals] == [second.id]
    assert restarted.counts["cancelled_runs"] == 1


async def test_a_run_cancelled_before_any_task_started_signals_no_worker(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    tracking: PostgresTrackingRecorder,
) -> None:
    engine.apply_workflow("default", a_spec(), engine.origin("tester"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("tester"))
    relay = CancelRelay(engine, tracking, nc.jetstream(), nc, subjects)

    async with listening(nc, subjects.control("*")) as signals, running(relay):
        engine.cancel_run("default", run.id, "stop", engine.origin("tester"))
        await eventually(lambda: _counted(relay, "cancelled_runs", 1))

    assert signals == []
    bucket = await nc.jetstream().key_value(subjects.cancelled_runs_bucket)
    assert (await bucket.get(str(run.id))).value
    with pytest.raises(KeyNotFoundError):
        await bucket.get(str(a_run_with_a_running_and_a_queued_task(engine).id))


async def _counted(relay: CancelRelay, count: str, expected: int) -> bool:
    return relay.counts[count] >= expected


async def _received(signals: list[CancelAttempt], expected: int) -> bool:
    return len(signals) >= expected
