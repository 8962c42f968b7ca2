"""Declares the JetStream streams and durable consumers, idempotently, before anything flows."""

import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from streams.subjects import RESULT_PARTITIONS, Subjects

logger = logging.getLogger(__name__)

MAX_DELIVER = 5
RESULTS_MAX_DELIVER = 100
"""Results are only redelivered while PostgreSQL is down (the recorder naks with a backoff up
to 30 s), so they get enough deliveries to outlast a long outage before being parked."""
DUPLICATE_WINDOW_SECONDS = 120.0
DEFAULT_ACK_WAIT_SECONDS = 30.0
MAX_MESSAGE_BYTES = 1024 * 1024
PARKED_MAX_AGE_SECONDS = 7 * 24 * 3600.0
TRIGGERS_ACK_WAIT_SECONDS = 30.0
TRIGGERS_MAX_DELIVER = 100
"""Like results: a trigger message is only redelivered while PostgreSQL is down (bad ones are
parked at once), so it gets enough deliveries, with back-off, to outlast an outage."""
DEAD_LETTERS_ACK_WAIT_SECONDS = 30.0
CANCELLED_RUNS_TTL_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class AckWaits:
    """Seconds JetStream waits for an ack before it redelivers: a dispatch whose worker stopped
    sending in-progress acks (it died), a result the recorder did not ack (it died mid-batch).

    Shorter means faster recovery from a killed worker or engine, and more redeliveries of
    results whose batch is slow to commit (fenced, so harmless). Each declaration updates the
    shared consumers (workers declare their queues' and the results one, engines the results
    one), so every process must be given the same values.
    """

    dispatch: float = DEFAULT_ACK_WAIT_SECONDS
    results: float = DEFAULT_ACK_WAIT_SECONDS


DEFAULT_ACK_WAITS = AckWaits()


async def declare_streams(
    js: JetStreamContext, subjects: Subjects, ack_waits: AckWaits = DEFAULT_ACK_WAITS
) -> None:
    """Create or update every stream, consumer and bucket the engine and the workers share."""
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
        await _declare_stream(js, config)
    for partition in range(RESULT_PARTITIONS):
        await declare_consumer(
            js,
            stream=subjects.results_stream,
            durable=subjects.results_consumer(partition),
            filter_subject=subjects.results(partition),
            ack_wait=ack_waits.results,
            max_deliver=RESULTS_MAX_DELIVER,
        )
    await declare_triggers(js, subjects)
    await declare_dead_letters(js, subjects)
    await declare_cancelled_runs(js, subjects)


async def declare_triggers(js: JetStreamContext, subjects: Subjects) -> None:
    """The work-queue stream of inbound trigger messages and the engine's durable consumer.

    Messages up to the stream's limit get in, so an oversized one (over the inputs limit) is
    parked by the consumer rather than refused unseen; `Nats-Msg-Id` de-duplicates publishes.
    """
    await _declare_stream(
        js,
        StreamConfig(
            name=subjects.triggers_stream,
            subjects=[subjects.triggers_wildcard],
            retention=RetentionPolicy.WORK_QUEUE,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_msg_size=MAX_MESSAGE_BYTES,
        ),
    )
    await declare_consumer(
        js,
        stream=subjects.triggers_stream,
        durable=subjects.triggers_consumer,
        filter_subject=subjects.triggers_wildcard,
        ack_wait=TRIGGERS_ACK_WAIT_SECONDS,
        max_deliver=TRIGGERS_MAX_DELIVER,
    )


@dataclass(frozen=True)
class EventsRetention:
    """How long and how much of the events stream JetStream keeps (the oldest go first)."""

    max_age_seconds: float
    max_bytes: int


async def declare_events_stream(
    js: JetStreamContext, subjects: Subjects, retention: EventsRetention
) -> None:
    """The stream of CloudEvents other systems read from any position (limits retention).

    Only the engine declares it (with the configured retention), so a worker never rewrites it.
    """
    await _declare_stream(
        js,
        StreamConfig(
            name=subjects.events_stream,
            subjects=[subjects.events_wildcard],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            storage=StorageType.FILE,
            max_age=retention.max_age_seconds,
            max_bytes=retention.max_bytes,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_msg_size=MAX_MESSAGE_BYTES,
        ),
    )


async def _declare_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.stream_info(str(config.name))
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


def max_deliveries_advisories(stream: str) -> str:
    """The subject on which nats-server says a consumer of `stream` gave up on a message."""
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.*"


def dead_letter_advisories_stream(subjects: Subjects) -> str:
    """The stream that keeps max-deliveries advisories until the engine has handled them."""
    return f"{subjects.parked_stream}_ADVISORIES"


DEAD_LETTERS_CONSUMER = "dead-letters"


async def declare_dead_letters(js: JetStreamContext, subjects: Subjects) -> None:
    """The parked stream, and a stream + consumer that keep max-deliveries advisories.

    nats-server publishes an advisory once, on core NATS, when a consumer gives up on a message;
    capturing it in a work-queue stream means an engine that was down (or a second replica)
    still handles it exactly once. The parked stream keeps copies for a week (limits retention;
    dropping the oldest copies is acceptable there, unlike in the work queues).
    """
    await _declare_stream(
        js,
        StreamConfig(
            name=subjects.parked_stream,
            subjects=[subjects.parked(">")],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            storage=StorageType.FILE,
            max_age=PARKED_MAX_AGE_SECONDS,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        ),
    )
    advisories = dead_letter_advisories_stream(subjects)
    await _declare_stream(
        js,
        StreamConfig(
            name=advisories,
            subjects=[
                max_deliveries_advisories(subjects.dispatch_stream),
                max_deliveries_advisories(subjects.results_stream),
            ],
            retention=RetentionPolicy.WORK_QUEUE,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
        ),
    )
    # Unbounded deliveries on purpose: handling an advisory is idempotent, malformed ones are
    # terminated, so only transient failures (PostgreSQL or NATS down) repeat, with back-off.
    await js.add_consumer(
        advisories,
        ConsumerConfig(
            name=DEAD_LETTERS_CONSUMER,
            durable_name=DEAD_LETTERS_CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=DEAD_LETTERS_ACK_WAIT_SECONDS,
            max_deliver=-1,
        ),
    )


async def declare_cancelled_runs(js: JetStreamContext, subjects: Subjects) -> KeyValue:
    """The key-value bucket of cancelled run ids (latest value only, kept a day)."""
    return await js.create_key_value(
        KeyValueConfig(
            bucket=subjects.cancelled_runs_bucket,
            history=1,
            ttl=CANCELLED_RUNS_TTL_SECONDS,
            storage=StorageType.FILE,
        )
    )


async def declare_dispatch_consumer(
    js: JetStreamContext,
    subjects: Subjects,
    queue: str,
    ack_wait: float = DEFAULT_ACK_WAIT_SECONDS,
) -> str:
    """The durable pull consumer the workers of `queue` share; returns its name."""
    durable = subjects.dispatch_consumer(queue)
    await declare_consumer(
        js,
        stream=subjects.dispatch_stream,
        durable=durable,
        filter_subject=subjects.dispatch(queue),
        ack_wait=ack_wait,
    )
    return durable


async def declare_consumer(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    filter_subject: str,
    ack_wait: float,
    max_deliver: int = MAX_DELIVER,
) -> None:
    """Create a durable explicit-ack pull consumer with a bounded number of deliveries, or
    update the existing one to this config (nats-server updates `ack_wait` in place)."""
    config = ConsumerConfig(
        name=durable,
        durable_name=durable,
        filter_subject=filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=10_000,
    )
    try:
        existing: float | None = (await js.consumer_info(stream, durable)).config.ack_wait
    except NotFoundError:
        existing = None
    if existing is not None and existing != ack_wait:
        # Worth a line: processes configured differently undo each other at every start.
        logger.info("consumer %s: ack wait changed from %g s to %g s", durable, existing, ack_wait)
    # Creates, updates, or (the same config) changes nothing: idempotent.
    await js.add_consumer(stream, config)
