"""The fetch loop every JetStream pull consumer of Ledgerflow runs, written once."""

import asyncio
import logging
from collections.abc import AsyncGenerator

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 1.0
"""How long one fetch waits for messages, so `stop` is seen at least this often."""
FETCH_RETRY_SECONDS = 1.0
"""The pause after a failed fetch (NATS reconnecting) before the next one."""


async def pulled_batches(
    subscription: JetStreamContext.PullSubscription,
    batch_size: int,
    stop: asyncio.Event,
    what: str,
) -> AsyncGenerator[list[Msg], None]:
    """Batches of up to `batch_size` messages until `stop` is set; an empty fetch yields
    nothing, a failed one is logged (naming `what`) and tried again after a pause. The
    subscription is unsubscribed at the end: use it inside `contextlib.aclosing`."""
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(batch_size, timeout=FETCH_TIMEOUT_SECONDS)
            except TimeoutError:  # nothing to do (nats' TimeoutError is one too)
                continue
            except Exception as error:  # NATS reconnecting
                logger.warning("fetching %s failed: %s", what, error)
                await asyncio.sleep(FETCH_RETRY_SECONDS)
                continue
            yield messages
    finally:
        await subscription.unsubscribe()
