"""Dead letters against real PostgreSQL and nats-server: poison messages parked, attempts failed."""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from aggregates.run import Run
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from streams.dead_letters import (
    PARKED_DELIVERIES_HEADER,
    PARKED_MSG_ID_HEADER,
    PARKED_SEQUENCE_HEADER,
    PARKED_STREAM_HEADER,
    DeadLetters,
)
from streams.dispatcher import dispatch_command
from streams.messages import TaskReported
from streams.subjects import Subjects
from streams.topology import max_deliveries_advisories
from tests.builders import a_spec
from tests.integration.loops import running

pytestmark = pytest.mark.integration

HANG = 30.0
MAX_DELIVER = 2


async def eventually(check: Callable[[], Awaitable[bool]], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


async def a_consumer_that_naks_everything(
    js: JetStreamContext, stream: str, filter_subject: str
) -> None:
    """A test-only consumer (no worker serves this prefix) that refuses every delivery."""
    await js.add_consumer(
        stream,
        ConsumerConfig(
            name="refuser",
            durable_name="refuser",
            filter_subject=filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=1.0,
            max_deliver=MAX_DELIVER,
        ),
    )
    subscription = await js.pull_subscribe_bind(durable="refuser", stream=stream)
    for _ in range(MAX_DELIVER * 3):
        try:
            messages = await subscription.fetch(1, timeout=0.5)
        except TimeoutError:
            continue
        for message in messages:
            await message.nak()
    await subscription.unsubscribe()


async def messages_in(js: JetStreamContext, stream: str) -> int:
    return int((await js.stream_info(stream)).state.messages)


async def test_a_dispatch_no_consumer_can_take_is_parked_and_its_attempt_fails(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    js = nc.jetstream()
    engine.apply_workflow("default", a_spec(), engine.origin("tester"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("tester"))
    command = dispatch_command(run, "a", 1)
    assert command is not None
    await js.publish(
        subjects.dispatch(command.queue),
        command.model_dump_json().encode(),
        headers={"Nats-Msg-Id": command.message_id},
    )

    async with running(DeadLetters(engine, js, subjects)) as dead_letters:
        await a_consumer_that_naks_everything(
            js, subjects.dispatch_stream, subjects.dispatch("default")
        )
        await eventually(lambda: _has(dead_letters, "failed_attempts"))

    failed = [e for e in engine.events.get(run.id) if isinstance(e, Run.TaskFailed)]
    assert [(e.task, e.attempt, e.cause) for e in failed] == [("a", 1, "undeliverable")]
    assert failed[0].error == f"dispatch undeliverable after {MAX_DELIVER} deliveries"
    after = engine.get_run("default", run.id)
    assert after.tasks["a"].status is TaskStatus.FAILED  # undeliverable is never retried
    assert after.status.value == "failed"
    assert await messages_in(js, subjects.dispatch_stream) == 0
    parked = await js.get_last_msg(
        subjects.parked_stream, subjects.parked(subjects.dispatch_stream)
    )
    assert parked.data == command.model_dump_json().encode()
    headers = parked.headers or {}
    assert headers[PARKED_STREAM_HEADER] == subjects.dispatch_stream
    assert headers[PARKED_SEQUENCE_HEADER] == "1"
    assert headers[PARKED_DELIVERIES_HEADER] == str(MAX_DELIVER)
    assert headers[PARKED_MSG_ID_HEADER] == command.message_id


async def test_a_result_no_consumer_can_take_is_parked_and_removed(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    js = nc.jetstream()
    # A partition the recorder does not consume, so the test's consumer does not overlap it.
    subject = subjects.results(7)
    report = TaskReported(
        tenant="default",
        run_id=uuid4(),
        task="a",
        attempt=1,
        delivery=1,
        worker="w1",
        outcome="succeeded",
        at=datetime.now(UTC),
    )
    await js.publish(subject, report.model_dump_json().encode())

    async with running(DeadLetters(engine, js, subjects)) as dead_letters:
        await a_consumer_that_naks_everything(js, subjects.results_stream, subject)
        await eventually(lambda: _has(dead_letters, "parked_results"))

    assert await messages_in(js, subjects.results_stream) == 0
    assert await messages_in(js, subjects.parked_stream) == 1
    assert dead_letters.counts["failed_attempts"] == 0


async def test_malformed_and_stale_advisories_are_counted_and_others_still_handled(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    js = nc.jetstream()
    advisory_subject = max_deliveries_advisories(subjects.dispatch_stream).replace("*", "refuser")
    stale = {
        "type": "io.nats.jetstream.advisory.v1.max_deliver",
        "stream": subjects.dispatch_stream,
        "consumer": "refuser",
        "stream_seq": 999,
        "deliveries": 5,
    }
    await nc.publish(advisory_subject, b"{not json")
    await nc.publish(advisory_subject, json.dumps({**stale, "stream_seq": -1}).encode())
    await nc.publish(advisory_subject, json.dumps(stale).encode())
    await nc.flush()

    async with running(DeadLetters(engine, js, subjects)) as dead_letters:
        await eventually(lambda: _has(dead_letters, "already_gone"))

    assert dead_letters.counts["malformed_advisories"] == 2
    assert await messages_in(js, subjects.parked_stream) == 0


async def test_a_poison_dispatch_does_not_hold_back_the_messages_behind_it(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await js.publish(subjects.dispatch("default"), b"poison")
    await js.publish(subjects.dispatch("default"), b"fine")

    async with running(DeadLetters(engine, js, subjects)) as dead_letters:
        taken = await _refuse_poison_take_the_rest(js, subjects)
        await eventually(lambda: _has(dead_letters, "unparsable_dispatches"))

    assert taken == [b"fine"]
    assert await messages_in(js, subjects.dispatch_stream) == 0
    with pytest.raises(NotFoundError):
        await js.get_msg(subjects.dispatch_stream, 1)


async def _refuse_poison_take_the_rest(js: JetStreamContext, subjects: Subjects) -> list[bytes]:
    await js.add_consumer(
        subjects.dispatch_stream,
        ConsumerConfig(
            name="picky",
            durable_name="picky",
            filter_subject=subjects.dispatch("default"),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=1.0,
            max_deliver=MAX_DELIVER,
        ),
    )
    subscription = await js.pull_subscribe_bind(durable="picky", stream=subjects.dispatch_stream)
    taken: list[bytes] = []
    for _ in range(MAX_DELIVER * 3):
        with contextlib.suppress(TimeoutError):
            for message in await subscription.fetch(2, timeout=0.5):
                if message.data == b"poison":
                    await message.nak()
                else:
                    taken.append(message.data)
                    await message.ack()
    await subscription.unsubscribe()
    return taken


async def _has(dead_letters: DeadLetters, count: str) -> bool:
    return dead_letters.counts[count] > 0
