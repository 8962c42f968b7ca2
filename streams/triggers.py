"""The trigger consumer: each CloudEvent on `ledgerflow.triggers.<tenant>.<name>` starts runs."""

import asyncio
import logging
from collections import Counter
from contextlib import aclosing

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from aggregates.errors import InvalidTriggerMessageError, Problem
from aggregates.trigger import TriggerMessage, decode_trigger_message
from engine.application import Ledgerflow
from streams.dead_letters import park_unreadable
from streams.pull_batches import pulled_batches
from streams.recorder import redelivery_delay
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 1.0


class TriggerConsumer:
    """Starts the runs each trigger message matches; acks only after the commit.

    Run ids derive from (tenant, workflow, message id), so a redelivery starts nothing new.
    A message that is not JSON, not a CloudEvent or over the inputs limit is parked at once
    (copied to the parked stream, then terminated), so it never blocks the ones behind it.
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
        """Consume trigger messages until `stop` is set."""
        subscription = await self._js.pull_subscribe_bind(
            durable=self._subjects.triggers_consumer, stream=self._subjects.triggers_stream
        )
        batches = pulled_batches(subscription, self._batch_size, stop, "trigger messages")
        async with aclosing(batches):
            async for messages in batches:
                for message in messages:
                    await self._handle(message)

    async def _handle(self, message: Msg) -> None:
        try:
            tenant, trigger = self._parse(message)
        except InvalidTriggerMessageError as error:
            self.counts["parked"] += 1
            logger.warning("parked a trigger message on %s: %s", message.subject, error)
            await park_unreadable(
                self._js, self._subjects, message, str(error), retry_after=RETRY_DELAY_SECONDS
            )
            return
        try:
            started = await asyncio.to_thread(
                self._engine.start_triggered_runs, tenant, trigger, f"nats:{message.subject}"
            )
        except Exception as error:  # PostgreSQL unavailable: let JetStream redeliver later
            logger.warning("trigger message %s not handled: %s", trigger.id, error)
            await message.nak(delay=redelivery_delay(message.metadata.num_delivered))
            return
        created = sum(item.created for item in started)
        self.counts["started"] += created
        self.counts["duplicates"] += len(started) - created
        if not started:
            self.counts["unmatched"] += 1
        await message.ack()

    def _parse(self, message: Msg) -> tuple[str, TriggerMessage]:
        address = self._subjects.trigger_address(message.subject)
        if address is None:
            problem = Problem("subject", f"{message.subject} is not a trigger subject")
            raise InvalidTriggerMessageError([problem])
        tenant, name = address
        msg_id = (message.headers or {}).get("Nats-Msg-Id")
        return tenant, decode_trigger_message(name, message.data, msg_id)
