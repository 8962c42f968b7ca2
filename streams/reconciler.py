"""The reconciler: re-publishes dispatches of attempts queued too long, in case NATS lost them."""

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from engine.application import Ledgerflow
from projections.attempts_view import AttemptRow, AttemptsView
from streams.dispatcher import PUBLISH_TIMEOUT_SECONDS, dispatch_command
from streams.messages import ExecuteTask
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

BOUND_SECONDS = 60.0
INTERVAL_SECONDS = 10.0
BATCH_LIMIT = 500


class Reconciler:
    """Every `interval` seconds (by default 10, or half the bound if shorter), re-publishes the
    dispatch of each attempt queued for longer than `bound` seconds, with the dispatcher's
    message id (`run:task:attempt`).

    Within JetStream's duplicate window (counted from the first publish) a re-publish is
    dropped, even if the stored copy is gone: a lost dispatch is stored again by the first
    round after the window. Outside it, a copy next to a surviving original is fenced by the
    Run. A queue whose consumer still has undelivered messages is skipped: its attempts wait
    behind a backlog, they are not lost, and re-publishing them would only pile copies onto it.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        view: AttemptsView,
        js: JetStreamContext,
        subjects: Subjects,
        *,
        bound: float = BOUND_SECONDS,
        interval: float | None = None,
        clock: Callable[[], datetime] | None = None,
        limit: int = BATCH_LIMIT,
    ) -> None:
        self._engine = engine
        self._view = view
        self._js = js
        self._subjects = subjects
        self._bound = timedelta(seconds=bound)
        # A short bound is looked at often enough to keep it; a long one every 10 s.
        self._interval = interval if interval is not None else min(INTERVAL_SECONDS, bound / 2)
        self._clock = clock or engine.clock
        self._limit = limit
        self.republished = 0
        """Dispatches JetStream stored again (their earlier copy was gone)."""
        self.deduplicated = 0
        """Re-publishes JetStream dropped as duplicates (an earlier copy is in the window)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.reconcile()
            except Exception as error:  # PostgreSQL or NATS unavailable: next round
                logger.warning("reconciling queued attempts failed: %s", error)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def reconcile(self) -> int:
        """One round; returns how many dispatches were re-published (stored or deduplicated)."""
        older_than = self._clock() - self._bound
        stale = await asyncio.to_thread(self._view.stale_queued, older_than, self._limit)
        published = 0
        backlogged: dict[str, bool] = {}
        for attempt in stale:
            if attempt.queue not in backlogged:
                backlogged[attempt.queue] = await self._has_backlog(attempt.queue)
            if backlogged[attempt.queue]:
                continue
            command = await asyncio.to_thread(self._command, attempt)
            if command is not None:
                await self._republish(command)
                published += 1
        return published

    def _command(self, attempt: AttemptRow) -> ExecuteTask | None:
        run = self._engine.load_run(attempt.run_id)
        if run is None or attempt.task not in run.tasks:
            return None
        return dispatch_command(run, attempt.task, attempt.attempt)

    async def _republish(self, command: ExecuteTask) -> None:
        ack = await self._js.publish(
            self._subjects.dispatch(command.queue),
            command.model_dump_json().encode(),
            timeout=PUBLISH_TIMEOUT_SECONDS,
            headers={"Nats-Msg-Id": command.message_id},
        )
        if ack.duplicate:
            self.deduplicated += 1
            logger.info("dispatch %s: JetStream saw its id within the window", command.message_id)
        else:
            self.republished += 1
            logger.warning(
                "re-published dispatch %s, queued for more than %s",
                command.message_id,
                self._bound,
            )

    async def _has_backlog(self, queue: str) -> bool:
        """Whether messages on `queue` wait for a worker (then a stale attempt is not lost)."""
        stream = self._subjects.dispatch_stream
        try:
            consumer = await self._js.consumer_info(stream, self._subjects.dispatch_consumer(queue))
        except NotFoundError:  # no worker ever served the queue: count what is stored
            subject = self._subjects.dispatch(queue)
            info = await self._js.stream_info(stream, subjects_filter=subject)
            return bool((info.state.subjects or {}).get(subject))
        return bool(consumer.num_pending)
