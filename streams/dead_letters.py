"""Dead letters: parks messages that ran out of deliveries and fails the attempts they carried."""

import asyncio
import logging
from collections import Counter
from contextlib import aclosing, suppress
from typing import Annotated, Literal

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aggregates.run import Recorded
from engine.application import Ledgerflow
from streams.messages import ExecuteTask
from streams.pull_batches import pulled_batches
from streams.subjects import Subjects
from streams.topology import DEAD_LETTERS_CONSUMER, dead_letter_advisories_stream

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 5.0
RETRY_DELAY_SECONDS = 1.0
MAX_RETRY_DELAY_SECONDS = 30.0

# Headers of a parked copy: where the original was and why it was given up on.
PARKED_STREAM_HEADER = "Ledgerflow-Parked-Stream"
PARKED_SUBJECT_HEADER = "Ledgerflow-Parked-Subject"
PARKED_SEQUENCE_HEADER = "Ledgerflow-Parked-Sequence"
PARKED_CONSUMER_HEADER = "Ledgerflow-Parked-Consumer"
PARKED_DELIVERIES_HEADER = "Ledgerflow-Parked-Deliveries"
PARKED_MSG_ID_HEADER = "Ledgerflow-Parked-Msg-Id"
PARKED_REASON_HEADER = "Ledgerflow-Parked-Reason"


class _MaxDeliveries(BaseModel):
    """nats-server's `io.nats.jetstream.advisory.v1.max_deliver` advisory (the fields we use)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["io.nats.jetstream.advisory.v1.max_deliver"]
    stream: Annotated[str, Field(min_length=1)]
    consumer: Annotated[str, Field(min_length=1)]
    stream_seq: Annotated[int, Field(ge=1)]
    deliveries: Annotated[int, Field(ge=1)]


class DeadLetters:
    """Handles every max-deliveries advisory of the dispatch and results streams, once.

    For each: copy the message to the parked stream, fail the attempt of a dispatch
    (`TaskFailed(cause="undeliverable")`; a result is only parked: its attempt's deadline or a
    retry takes care of it), then delete the original, which a work-queue stream would keep.
    Every step is idempotent, so a redelivered advisory (after a crash or an outage) is safe.
    """

    def __init__(
        self, engine: Ledgerflow, js: JetStreamContext, subjects: Subjects, *, batch_size: int = 64
    ) -> None:
        self._engine = engine
        self._js = js
        self._subjects = subjects
        self._batch_size = batch_size
        self.counts: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        """Handle advisories until `stop` is set."""
        subscription = await self._js.pull_subscribe_bind(
            durable=DEAD_LETTERS_CONSUMER, stream=dead_letter_advisories_stream(self._subjects)
        )
        batches = pulled_batches(subscription, self._batch_size, stop, "dead-letter advisories")
        async with aclosing(batches):
            async for advisories in batches:
                for advisory in advisories:
                    await self._handle(advisory)

    async def _handle(self, message: Msg) -> None:
        advisory = self._parse(message)
        if advisory is None:
            await message.term()
            return
        try:
            await self._park_and_settle(advisory)
        except Exception as error:  # NATS or PostgreSQL unavailable: try again later
            self.counts["retried"] += 1
            delay = min(
                RETRY_DELAY_SECONDS * 2 ** (message.metadata.num_delivered - 1),
                MAX_RETRY_DELAY_SECONDS,
            )
            logger.warning(
                "dead letter %s #%d not settled, again in %g s: %s",
                advisory.stream,
                advisory.stream_seq,
                delay,
                error,
            )
            await message.nak(delay=delay)
            return
        await message.ack()

    def _parse(self, message: Msg) -> _MaxDeliveries | None:
        try:
            advisory = _MaxDeliveries.model_validate_json(message.data)
        except ValidationError as error:
            self.counts["malformed_advisories"] += 1
            logger.warning("dropped a malformed max-deliveries advisory: %s", error.errors()[0])
            return None
        if advisory.stream not in (self._subjects.dispatch_stream, self._subjects.results_stream):
            self.counts["foreign_advisories"] += 1
            logger.warning("dropped an advisory about stream %s", advisory.stream)
            return None
        self.counts["advisories"] += 1
        return advisory

    async def _park_and_settle(self, advisory: _MaxDeliveries) -> None:
        stream, sequence = advisory.stream, advisory.stream_seq
        try:
            original = await self._js.get_msg(stream, sequence)
        except NotFoundError:
            # Settled before (a redelivered advisory) or removed by hand: nothing left to do.
            self.counts["already_gone"] += 1
            logger.info("dead letter %s #%d is no longer in its stream", stream, sequence)
            return
        data = original.data or b""
        await self._js.publish(
            self._subjects.parked(stream),
            data,
            timeout=PUBLISH_TIMEOUT_SECONDS,
            headers=_parked_headers(advisory, original.subject or "", original.headers or {}),
        )
        if stream == self._subjects.dispatch_stream:
            self.counts["parked_dispatches"] += 1
            await self._fail_attempt(advisory, data)
        else:
            self.counts["parked_results"] += 1
            logger.warning(
                "parked result %s #%d (%s) after %d deliveries",
                stream,
                sequence,
                original.subject,
                advisory.deliveries,
            )
        with suppress(NotFoundError):  # deleted by a previous try whose ack was lost
            await self._js.delete_msg(stream, sequence)

    async def _fail_attempt(self, advisory: _MaxDeliveries, data: bytes) -> None:
        try:
            command = ExecuteTask.model_validate_json(data)
        except ValidationError:
            # The worker terminates what it cannot parse, so this is rare: no run to fail.
            self.counts["unparsable_dispatches"] += 1
            logger.warning(
                "parked an unparsable dispatch %s #%d", advisory.stream, advisory.stream_seq
            )
            return
        error = f"dispatch undeliverable after {advisory.deliveries} deliveries"
        outcome = await asyncio.to_thread(
            self._engine.abandon_attempt,
            command.run_id,
            command.task,
            command.attempt,
            cause="undeliverable",
            error=error,
        )
        if outcome is None:
            self.counts["unknown_runs"] += 1
        elif outcome is Recorded.FENCED:
            self.counts["fenced"] += 1  # the attempt had already ended or been superseded
        else:
            self.counts["failed_attempts"] += 1
        logger.warning(
            "parked dispatch %s after %d deliveries (attempt %s)",
            command.message_id,
            advisory.deliveries,
            "unknown run" if outcome is None else outcome.value,
        )


def _parked_headers(
    advisory: _MaxDeliveries, subject: str, original: dict[str, str]
) -> dict[str, str]:
    # JetStream's own headers would act on the parked stream (de-duplication, expectations),
    # so the original message id travels under our name and the others are dropped.
    headers = {name: value for name, value in original.items() if not name.startswith("Nats-")}
    if "Nats-Msg-Id" in original:
        headers[PARKED_MSG_ID_HEADER] = original["Nats-Msg-Id"]
    headers.update(
        {
            # One parked copy per original, even if a redelivered advisory parks it again.
            "Nats-Msg-Id": f"{advisory.stream}:{advisory.stream_seq}",
            PARKED_STREAM_HEADER: advisory.stream,
            PARKED_SUBJECT_HEADER: subject,
            PARKED_SEQUENCE_HEADER: str(advisory.stream_seq),
            PARKED_CONSUMER_HEADER: advisory.consumer,
            PARKED_DELIVERIES_HEADER: str(advisory.deliveries),
        }
    )
    return headers


async def park_unreadable(
    js: JetStreamContext, subjects: Subjects, message: Msg, reason: str, *, retry_after: float
) -> None:
    """Keep a copy of a message nobody can read on the parked stream, then terminate it; if
    NATS cannot take the copy now, the message is redelivered after `retry_after` seconds."""
    stream, sequence = message.metadata.stream, message.metadata.sequence.stream
    try:
        await js.publish(
            subjects.parked(stream),
            message.data,
            timeout=PUBLISH_TIMEOUT_SECONDS,
            headers={
                "Nats-Msg-Id": f"{stream}:{sequence}",
                PARKED_STREAM_HEADER: stream,
                PARKED_SUBJECT_HEADER: message.subject,
                PARKED_SEQUENCE_HEADER: str(sequence),
                PARKED_REASON_HEADER: " ".join(reason.split())[:512],
            },
        )
    except Exception as error:  # NATS busy: parking is retried with the redelivery
        logger.warning("parking an unreadable message from %s failed: %s", stream, error)
        await message.nak(delay=retry_after)
        return
    await message.term()
