"""Bad traffic on NATS against the running engines: duplicate, out-of-order, late, stale and
malformed results, and poison dispatches; one outcome per attempt, nothing regresses, the
unreadable is parked, other work flows.

The recorder's and worker's handling of each kind is unit-tested against one process in
tests/integration/test_dispatch_and_record.py, test_dead_letters.py and test_worker.py; here
two engine replicas and two workers share the traffic.
"""

import asyncio
import uuid
from datetime import UTC, datetime

import nats
import pytest

from streams.messages import Outcome, TaskReported
from streams.subjects import Subjects, partition_for
from tests.faults.checker import nats_leftovers
from tests.faults.client import RequestLog
from tests.faults.rig import FaultRig

pytestmark = pytest.mark.faults

MALFORMED = (b"not json", b'{"schema_version": 7}', b"{}", b"[" * 100_000, b"\x00\xff")


def report(run_id: str, task: str, attempt: int, delivery: int, outcome: Outcome) -> TaskReported:
    return TaskReported(
        tenant="default",
        run_id=uuid.UUID(run_id),
        task=task,
        attempt=attempt,
        delivery=delivery,
        worker="w1",
        outcome=outcome,
        at=datetime.now(UTC),
    )


async def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish each (subject, payload) to JetStream under a fresh message id."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        for subject, payload in messages:
            await js.publish(subject, payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
    finally:
        await client.close()


async def parked_count(url: str, subjects: Subjects) -> int:
    client = await nats.connect(url)
    try:
        info = await client.jetstream().stream_info(subjects.parked_stream)
        return int(info.state.messages)
    finally:
        await client.close()


def test_duplicate_out_of_order_late_and_malformed_messages_change_no_outcome(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    subjects = Subjects(rig.settings.nats_prefix)
    url = rig.nats.url
    run_id = client.submit("fault-chain", {})
    assert run_id is not None
    rig.settle([run_id])
    finished = rig.deployment.run(run_id)
    parked_before = asyncio.run(parked_count(url, subjects))
    results = subjects.results(partition_for(uuid.UUID(run_id)))
    bad = [
        report(run_id, "a", 1, 1, "succeeded"),  # a duplicate under another message id
        report(run_id, "a", 1, 1, "started"),  # out of order: after the outcome
        report(run_id, "b", 1, 1, "failed"),  # late and conflicting
        report(run_id, "b", 1, 2, "succeeded"),  # a delivery that never was
        report(run_id, "a", 7, 1, "succeeded"),  # an attempt never queued
        report(str(uuid.uuid4()), "a", 1, 1, "succeeded"),  # an unknown run
    ]

    asyncio.run(
        publish(
            url,
            [(results, message.model_dump_json().encode()) for message in bad]
            + [(results, payload) for payload in MALFORMED]
            + [(subjects.dispatch("default"), payload) for payload in MALFORMED],
        )
    )
    rig.fault("duplicate/out-of-order/late results")
    rig.fault("poison dispatch and result")
    after = client.submit("fault-chain", {})
    assert after is not None
    rig.settle([after])

    rig.engines_log("result for unknown run")
    assert rig.deployment.run(run_id) == finished
    assert asyncio.run(parked_count(url, subjects)) >= parked_before + len(MALFORMED)
    rig.check("bad messages on NATS", requests)


def test_a_message_nobody_consumes_is_named_by_the_checker(
    rig: FaultRig, requests: RequestLog
) -> None:
    """The checker's "nothing unexplained left in NATS" rule has teeth: a dispatch for a queue
    no worker serves stays in the stream, and the checker names the stream and the subject."""
    subjects = Subjects(rig.settings.nats_prefix)
    url = rig.nats.url
    subject = subjects.dispatch("nobody-serves-this")
    asyncio.run(publish(url, [(subject, b"{}")]))

    leftovers = nats_leftovers(url, subjects, within=1.0)

    asyncio.run(purge(url, subjects.dispatch_stream, subject))
    # (Cron runs flow meanwhile: a dispatch of theirs in flight may be named beside it.)
    assert any(
        line.startswith(f"stream {subjects.dispatch_stream}:") and subject in line
        for line in leftovers
    ), leftovers
    rig.check("a message nobody consumes (purged)", requests)


async def purge(url: str, stream: str, subject: str) -> None:
    client = await nats.connect(url)
    try:
        await client.jetstream().purge_stream(stream, subject=subject)
    finally:
        await client.close()
