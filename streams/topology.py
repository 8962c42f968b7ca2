"""Declares the JetStream streams and durable consumers, idempotently, before anything flows."""

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from streams.subjects import RESULT_PARTITIONS, Subjects

MAX_DELIVER = 5
DUPLICATE_WINDOW_SECONDS = 120.0
DISPATCH_ACK_WAIT_SECONDS = 30.0
RESULTS_ACK_WAIT_SECONDS = 30.0
MAX_MESSAGE_BYTES = 1024 * 1024


async def declare_streams(js: JetStreamContext, subjects: Subjects) -> None:
    """Create or update the dispatch and results streams and the recorder's consumers."""
    for name, wildcard in (
        (subjects.dispatch_stream, subjects.dispatch_wildcard),
        (subjects.results_stream, subjects.results_wildcard),
    ):
        # Work-queue retention removes a message once acked; discard-new makes a full stream
        # refuse new messages instead of silently dropping unconsumed ones.
        config = StreamConfig(
            name=name,
            subjects=[wildcard],
            retention=RetentionPolicy.WORK_QUEUE,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_msg_size=MAX_MESSAGE_BYTES,
        )
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
    for partition in range(RESULT_PARTITIONS):
        await declare_consumer(
            js,
            stream=subjects.results_stream,
            durable=subjects.results_consumer(partition),
            filter_subject=subjects.results(partition),
            ack_wait=RESULTS_ACK_WAIT_SECONDS,
        )


async def declare_dispatch_consumer(js: JetStreamContext, subjects: Subjects, queue: str) -> str:
    """The durable pull consumer the workers of `queue` share; returns its name."""
    durable = subjects.dispatch_consumer(queue)
    await declare_consumer(
        js,
        stream=subjects.dispatch_stream,
        durable=durable,
        filter_subject=subjects.dispatch(queue),
        ack_wait=DISPATCH_ACK_WAIT_SECONDS,
    )
    return durable


async def declare_consumer(
    js: JetStreamContext, *, stream: str, durable: str, filter_subject: str, ack_wait: float
) -> None:
    """Create a durable explicit-ack pull consumer with a bounded number of deliveries."""
    config = ConsumerConfig(
        name=durable,
        durable_name=durable,
        filter_subject=filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=MAX_DELIVER,
        max_ack_pending=10_000,
    )
    # add_consumer with an identical config is a no-op on the server, so this is idempotent.
    await js.add_consumer(stream, config)
