"""The rig's JetStream seen from outside: what the work queues still hold, what their consumers
still owe, and what was parked, read on the real nats-server (for the checker and scenarios)."""

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from streams.dead_letters import (
    PARKED_DELIVERIES_HEADER,
    PARKED_REASON_HEADER,
    PARKED_SEQUENCE_HEADER,
    PARKED_STREAM_HEADER,
)
from streams.subjects import Subjects
from streams.topology import dead_letter_advisories_stream

MAX_LISTED = 2000
"""Messages read one by one at most when listing what a stream still holds (a failing check
names a few; it does not need every one)."""


@dataclass(frozen=True)
class ConsumerDebt:
    """What one durable consumer has not settled: not yet delivered, delivered and unacked."""

    stream: str
    consumer: str
    pending: int
    ack_pending: int
    redelivered: int

    @property
    def owed(self) -> bool:
        return bool(self.pending or self.ack_pending)

    def __str__(self) -> str:
        return (
            f"consumer {self.consumer} on {self.stream}: {self.pending} pending, "
            f"{self.ack_pending} unacked ({self.redelivered} of them redelivered)"
        )


@dataclass(frozen=True)
class Stored:
    """A message still in a work-queue stream."""

    stream: str
    sequence: int
    subject: str
    message_id: str | None
    """Its `Nats-Msg-Id`: `run:task:attempt` for a dispatch, with `:delivery:outcome` for a
    result."""


@dataclass(frozen=True)
class Parked:
    """A copy on the parked stream: where the original was, and why it was given up on."""

    sequence: int
    """Its own sequence in the parked stream."""
    stream: str
    original: int
    """The original's sequence in `stream`."""
    data: bytes
    deliveries: int | None
    """Set for a message that ran out of deliveries (the max-deliveries advisory)."""
    reason: str | None
    """Set for a message nobody could read (parked at once)."""


def work_queues(subjects: Subjects) -> tuple[str, ...]:
    """The streams whose messages must all be consumed: dispatches, results, advisories."""
    return (
        subjects.dispatch_stream,
        subjects.results_stream,
        dead_letter_advisories_stream(subjects),
    )


@asynccontextmanager
async def _jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        yield client.jetstream()
    finally:
        await client.close()


def debts(url: str, streams: Iterable[str]) -> list[ConsumerDebt]:
    """Every durable consumer of `streams`, with what it has not settled."""
    return asyncio.run(_debts(url, tuple(streams)))


async def _debts(url: str, streams: tuple[str, ...]) -> list[ConsumerDebt]:
    async with _jetstream(url) as js:
        return [
            ConsumerDebt(
                stream,
                str(info.name),
                int(info.num_pending or 0),
                int(info.num_ack_pending or 0),
                int(info.num_redelivered or 0),
            )
            for stream in streams
            for info in await js.consumers_info(stream)
        ]


def message_count(url: str, stream: str) -> int:
    """How many messages `stream` holds."""
    return asyncio.run(_message_count(url, stream))


async def _message_count(url: str, stream: str) -> int:
    async with _jetstream(url) as js:
        return int((await js.stream_info(stream)).state.messages)


def stored(url: str, streams: Iterable[str]) -> list[Stored]:
    """The messages `streams` still hold (up to `MAX_LISTED` per stream), oldest first."""
    return asyncio.run(_stored(url, tuple(streams)))


async def _stored(url: str, streams: tuple[str, ...]) -> list[Stored]:
    found: list[Stored] = []
    async with _jetstream(url) as js:
        for stream in streams:
            state = (await js.stream_info(stream)).state
            if not state.messages:
                continue
            last = min(state.last_seq, state.first_seq + MAX_LISTED - 1)
            for sequence in range(state.first_seq, last + 1):
                try:
                    message = await js.get_msg(stream, sequence)
                except NotFoundError:  # consumed (acked) or deleted: a gap
                    continue
                message_id = (message.headers or {}).get("Nats-Msg-Id")
                found.append(Stored(stream, sequence, str(message.subject), message_id))
    return found


def parked(url: str, subjects: Subjects, after: int) -> list[Parked]:
    """The copies on the parked stream past sequence `after`, oldest first."""
    return asyncio.run(_parked(url, subjects, after))


async def _parked(url: str, subjects: Subjects, after: int) -> list[Parked]:
    copies: list[Parked] = []
    async with _jetstream(url) as js:
        last = int((await js.stream_info(subjects.parked_stream)).state.last_seq)
        for sequence in range(after + 1, last + 1):
            try:
                message = await js.get_msg(subjects.parked_stream, sequence)
            except NotFoundError:
                continue
            headers = message.headers or {}
            deliveries = headers.get(PARKED_DELIVERIES_HEADER)
            copies.append(
                Parked(
                    sequence=sequence,
                    stream=headers.get(PARKED_STREAM_HEADER, ""),
                    original=int(headers.get(PARKED_SEQUENCE_HEADER, "0")),
                    data=message.data or b"",
                    deliveries=None if deliveries is None else int(deliveries),
                    reason=headers.get(PARKED_REASON_HEADER),
                )
            )
    return copies
