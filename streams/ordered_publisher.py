"""Publishing a batch to JetStream pipelined, yet stored in order and once per message id."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import Header, PubAck

logger = logging.getLogger(__name__)

ACK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Outbound:
    """One message to store: where, under which de-duplication id, with which bytes."""

    subject: str
    message_id: str
    payload: bytes


class OrderedPublisher:
    """Stores messages in the order given, without awaiting each acknowledgement in turn.

    Each message is sent at once (async publish) with `Nats-Msg-Id` and with
    `Nats-Expected-Last-Msg-Id` naming the message before it, so JetStream refuses a message
    whose predecessor it has not stored (lost in a reconnect, say) instead of storing it out of
    order; acknowledgements are gathered afterwards. From the first message that failed, the
    rest are sent one by one, each awaited before the next (its predecessor is then known to
    be stored), which also re-anchors the chain after anything else wrote to the stream.
    A message already stored inside the duplicate window is acknowledged as a duplicate.
    """

    def __init__(self, js: JetStreamContext, *, ack_timeout: float = ACK_TIMEOUT_SECONDS) -> None:
        self._js = js
        self._ack_timeout = ack_timeout
        self.stored = 0
        self.duplicates = 0
        self.one_by_one = 0
        """Messages sent after a pipelined failure, awaited one at a time."""

    async def publish(self, messages: Sequence[Outbound], after: str | None) -> None:
        """Store `messages` in order; `after` is the id of the message stored just before them
        (None: unknown). Raises if one cannot be stored; publishing again is then safe."""
        failed_at = await self._pipelined(messages, after)
        for message in messages[failed_at:]:
            ack = await self._js.publish(
                message.subject,
                message.payload,
                timeout=self._ack_timeout,
                headers={Header.MSG_ID.value: message.message_id},
            )
            self._count(ack)
            self.one_by_one += 1

    async def _pipelined(self, messages: Sequence[Outbound], after: str | None) -> int:
        """Send every message, then gather; the index of the first one not stored (or len)."""
        futures: list[asyncio.Future[PubAck]] = []
        previous = after
        try:
            for message in messages:
                headers = {Header.MSG_ID.value: message.message_id}
                if previous is not None:
                    headers[Header.EXPECTED_LAST_MSG_ID.value] = previous
                futures.append(
                    await self._js.publish_async(
                        message.subject,
                        message.payload,
                        headers=headers,
                        wait_stall=self._ack_timeout,
                    )
                )
                previous = message.message_id
        except Exception as error:  # disconnected, stalled: the rest go one by one
            logger.info("pipelined publish stopped after %d message(s): %s", len(futures), error)
        if futures:
            _, pending = await asyncio.wait(futures, timeout=self._ack_timeout)
            for future in pending:
                future.cancel()
        first_failure = len(futures)
        for index, future in enumerate(futures):
            # Every outcome is read, so no failed future is reported as never retrieved.
            if future.cancelled() or future.exception() is not None:
                first_failure = min(first_failure, index)
            elif index < first_failure:
                self._count(future.result())
        return first_failure

    def _count(self, ack: PubAck) -> None:
        if ack.duplicate:
            self.duplicates += 1
        else:
            self.stored += 1
