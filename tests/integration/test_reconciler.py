"""The reconciler on real PostgreSQL and nats-server: a lost dispatch is published again."""

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from nats.aio.client import Client as NatsClient

from engine.application import Ledgerflow
from ops.system import (
    DISPATCHER_TRACKING_TABLE,
    build_attempts_view,
    build_projection,
    build_tracking,
)
from projections.attempts import ATTEMPTS
from streams.dispatcher import Dispatcher
from streams.reconciler import Reconciler
from streams.subjects import Subjects
from streams.topology import declare_dispatch_consumer
from tests.builders import a_spec

pytestmark = pytest.mark.integration

HANG = 30.0


async def eventually(check: Callable[[], Coroutine[Any, Any, bool]], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


async def stored(nc: NatsClient, subjects: Subjects) -> int:
    return int((await nc.jetstream().stream_info(subjects.dispatch_stream)).state.messages)


async def a_dispatched_run(engine: Ledgerflow, nc: NatsClient, subjects: Subjects) -> UUID:
    """A run whose root task is queued, dispatched to JetStream and in the read model."""
    engine.apply_workflow("default", a_spec(), engine.origin("t"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    dispatcher = Dispatcher(
        engine, build_tracking(engine, DISPATCHER_TRACKING_TABLE), nc.jetstream(), subjects
    )
    projection = build_projection(engine, ATTEMPTS)
    stop = asyncio.Event()
    followers = asyncio.gather(dispatcher.run(stop), projection.run(stop))

    async def dispatched() -> bool:
        return await stored(nc, subjects) == 1

    await eventually(dispatched)
    head = engine.recorder.max_notification_id() or 0
    await asyncio.to_thread(build_attempts_view(engine).wait_for, head, HANG)
    stop.set()
    await asyncio.wait_for(followers, HANG)
    return run.id


async def shorten_the_duplicate_window(nc: NatsClient, subjects: Subjects, seconds: float) -> None:
    """JetStream's window is 120 s; a test cannot wait that long for it to pass."""
    js = nc.jetstream()
    info = await js.stream_info(subjects.dispatch_stream)
    await js.update_stream(replace(info.config, duplicate_window=seconds))


async def test_a_dispatch_deleted_from_the_stream_is_published_again_with_its_id(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await shorten_the_duplicate_window(nc, subjects, seconds=1.0)
    run_id = await a_dispatched_run(engine, nc, subjects)
    await js.purge_stream(subjects.dispatch_stream)  # lost inside NATS
    reconciler = Reconciler(
        engine, build_attempts_view(engine), js, subjects, bound=0, interval=0.1
    )
    stop = asyncio.Event()
    reconciling = asyncio.create_task(reconciler.run(stop))

    async def published_again() -> bool:
        return await stored(nc, subjects) == 1

    await eventually(published_again)
    await asyncio.sleep(0.5)  # more rounds: the copy waiting in the stream is left alone
    stop.set()
    await asyncio.wait_for(reconciling, HANG)

    message = await js.get_last_msg(subjects.dispatch_stream, subjects.dispatch("default"))
    assert (message.headers or {}).get("Nats-Msg-Id") == f"{run_id}:a:1"
    assert await stored(nc, subjects) == 1
    assert reconciler.republished == 1
    assert reconciler.deduplicated >= 1  # the rounds within the window: JetStream dropped them


async def test_a_dispatch_still_waiting_for_a_worker_is_left_alone(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    await a_dispatched_run(engine, nc, subjects)
    reconciler = Reconciler(engine, build_attempts_view(engine), nc.jetstream(), subjects, bound=0)

    published = await reconciler.reconcile()

    assert published == 0
    assert await stored(nc, subjects) == 1


async def test_a_dispatch_delivered_but_not_started_is_deduplicated_by_jetstream(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    await a_dispatched_run(engine, nc, subjects)
    js = nc.jetstream()
    durable = await declare_dispatch_consumer(js, subjects, "default")
    puller = await js.pull_subscribe_bind(durable=durable, stream=subjects.dispatch_stream)
    (delivered,) = await puller.fetch(1, timeout=HANG)  # a worker took it, then went quiet
    reconciler = Reconciler(engine, build_attempts_view(engine), js, subjects, bound=0)

    published = await reconciler.reconcile()

    assert published == 1
    assert (reconciler.republished, reconciler.deduplicated) == (0, 1)
    assert await stored(nc, subjects) == 1
    await delivered.ack()
    await puller.unsubscribe()
