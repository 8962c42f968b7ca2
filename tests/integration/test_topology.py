"""Declaring the JetStream topology against a real nats-server: configured ack waits."""

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from streams.subjects import Subjects
from streams.topology import AckWaits, declare_dispatch_consumer, declare_streams

pytestmark = pytest.mark.integration

HANG_SECONDS = 30.0


# These override tests/integration/conftest.py's: no PostgreSQL schema is needed, and each test
# declares the streams itself.
@pytest.fixture
def nc(bare_nc: Client) -> Client:
    return bare_nc


@pytest.fixture
def subjects(unique_name: str) -> Subjects:
    return Subjects(prefix=unique_name)


async def ack_wait_of(js: JetStreamContext, stream: str, consumer: str) -> float | None:
    wait: float | None = (await js.consumer_info(stream, consumer)).config.ack_wait
    return wait


async def test_a_dispatch_consumer_declared_again_with_another_ack_wait_gets_it(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await declare_streams(js, subjects)
    durable = await declare_dispatch_consumer(js, subjects, "default", ack_wait=30.0)

    await declare_dispatch_consumer(js, subjects, "default", ack_wait=2.0)

    assert await ack_wait_of(js, subjects.dispatch_stream, durable) == 2.0


async def test_the_results_consumer_declared_again_with_another_ack_wait_gets_it(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await declare_streams(js, subjects, AckWaits(dispatch=30.0, results=30.0))

    await declare_streams(js, subjects, AckWaits(dispatch=30.0, results=2.0))

    assert await ack_wait_of(js, subjects.results_stream, subjects.results_consumer(0)) == 2.0


async def test_a_dispatch_left_unacked_is_redelivered_after_the_shortened_ack_wait(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await declare_streams(js, subjects)
    await declare_dispatch_consumer(js, subjects, "default", ack_wait=30.0)
    durable = await declare_dispatch_consumer(js, subjects, "default", ack_wait=1.0)
    await js.publish(subjects.dispatch("default"), b"{}", headers={"Nats-Msg-Id": "r:t:1"})
    subscription = await js.pull_subscribe_bind(durable, stream=subjects.dispatch_stream)
    [taken] = await subscription.fetch(1, timeout=HANG_SECONDS)  # a worker that then dies

    # Well before the old 30 s ack wait: the bound only detects a redelivery that never comes.
    [again] = await subscription.fetch(1, timeout=HANG_SECONDS * 2 / 3)

    assert again.data == taken.data
    assert (taken.metadata.num_delivered, again.metadata.num_delivered) == (1, 2)
    await again.ack()
