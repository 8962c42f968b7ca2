"""The cancel relay: follows the log and turns each cancelled run into signals for the workers."""

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification, Subscription, Tracking, TrackingRecorder
from eventsourcing.utils import get_topic
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from aggregates.run import Run
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from streams.messages import CancelAttempt
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

NATS_TIMEOUT_SECONDS = 5
RETRY_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class _Cancellation:
    """A cancelled run and the attempts that were running on workers when it was cancelled."""

    run_id: UUID
    cancelled_at: datetime
    signals: tuple[tuple[str, CancelAttempt], ...]  # (worker, message)


class CancelRelay:
    """Turns `Run.Cancelled` events into what workers act on, tracking its position.

    For each cancelled run: its id goes into the cancelled-runs bucket (workers skip attempts
    of it they have not started), and every worker that was running one of its attempts gets a
    `CancelAttempt` on its control subject. Both are idempotent, so re-reading the log after a
    crash is safe.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        tracking: TrackingRecorder,
        js: JetStreamContext,
        nc: NatsClient,
        subjects: Subjects,
        *,
        batch_size: int = 64,
    ) -> None:
        self._engine = engine
        self._tracking = tracking
        self._js = js
        self._nc = nc
        self._subjects = subjects
        self._batch_size = batch_size
        self.counts: Counter[str] = Counter()

    @property
    def position(self) -> int:
        return self._tracking.max_tracking_id(self._engine.name) or 0

    async def run(self, stop: asyncio.Event) -> None:
        """Relay cancellations until `stop` is set."""
        queue: asyncio.Queue[tuple[int, _Cancellation | None]] = asyncio.Queue()
        start = await asyncio.to_thread(lambda: self.position)
        follower = _CancellationFollower(self._engine, start, queue, asyncio.get_running_loop())
        follower.start()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getting = asyncio.create_task(queue.get())
                await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    getting.cancel()
                    break
                batch = [getting.result()]
                while len(batch) < self._batch_size and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._relay_until_done(batch, stop)
        finally:
            stopping.cancel()
            follower.stop()
            await asyncio.to_thread(follower.join)

    async def _relay_until_done(
        self, batch: list[tuple[int, _Cancellation | None]], stop: asyncio.Event
    ) -> None:
        cancellations = [item for _, item in batch if item is not None]
        while True:
            try:
                await self._relay(cancellations)
                break
            except Exception as error:  # NATS down or slow: every effect is idempotent
                logger.warning("relaying %d cancel(s) failed, retrying: %s", len(batch), error)
                if stop.is_set():
                    return
                await asyncio.sleep(RETRY_DELAY_SECONDS)
        last = batch[-1][0]
        await asyncio.to_thread(self._tracking.insert_tracking, Tracking(self._engine.name, last))

    async def _relay(self, cancellations: list[_Cancellation]) -> None:
        if not cancellations:
            return
        bucket = await self._js.key_value(self._subjects.cancelled_runs_bucket)
        for cancellation in cancellations:
            await bucket.put(
                str(cancellation.run_id), cancellation.cancelled_at.isoformat().encode()
            )
            for worker, signal in cancellation.signals:
                await self._nc.publish(
                    self._subjects.control(worker), signal.model_dump_json().encode()
                )
        # Core NATS buffers publishes: make sure the signals left before the position moves.
        await self._nc.flush(timeout=NATS_TIMEOUT_SECONDS)
        for cancellation in cancellations:
            self.counts["cancelled_runs"] += 1
            self.counts["cancel_signals"] += len(cancellation.signals)
            logger.info(
                "relayed the cancel of run %s (%d running attempt(s) signalled)",
                cancellation.run_id,
                len(cancellation.signals),
            )


def _cancellation(engine: Ledgerflow, cancelled: Any) -> _Cancellation | None:
    """What to relay for a `Run.Cancelled` event: the attempts running just before it."""
    run_id: UUID = cancelled.originator_id
    before: Run | None = _run_at(engine, run_id, cancelled.originator_version - 1)
    if before is None:
        return None
    signals = tuple(
        (state.worker, CancelAttempt(run_id=run_id, task=name, attempt=state.attempt))
        for name, state in before.tasks.items()
        if state.status is TaskStatus.RUNNING and state.worker is not None
    )
    return _Cancellation(run_id=run_id, cancelled_at=cancelled.timestamp, signals=signals)


def _run_at(engine: Ledgerflow, run_id: UUID, version: int) -> Run | None:
    try:
        run: Run = engine.repository.get(run_id, version=version)
    except AggregateNotFoundError:
        logger.warning("cancelled run %s has no version %d; nothing to signal", run_id, version)
        return None
    return run


class _CancellationFollower(threading.Thread):
    """Reads `Run.Cancelled` from the log (LISTEN/NOTIFY wakes it) and hands them to the loop."""

    def __init__(
        self,
        engine: Ledgerflow,
        start: int,
        queue: "asyncio.Queue[tuple[int, _Cancellation | None]]",
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(name="cancel-relay-log-follower", daemon=True)
        self._engine = engine
        self._last = start
        self._queue = queue
        self._loop = loop
        self._stopped = threading.Event()
        self._subscription: Subscription[Any] | None = None

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                for notification in self._notifications():
                    cancelled = self._engine.mapper.to_domain_event(notification)
                    item = (notification.id, _cancellation(self._engine, cancelled))
                    self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
                    self._last = notification.id
            except Exception as error:  # PostgreSQL restarting: follow again from where we were
                logger.warning("cancel relay lost the log, following again: %s", error)
                self._stopped.wait(RETRY_DELAY_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
        if self._subscription is not None:
            with suppress(Exception):
                self._subscription.stop()

    def _notifications(self) -> Iterator[Notification]:
        self._subscription = self._engine.recorder.subscribe(
            gt=self._last, topics=[get_topic(Run.Cancelled)]
        )
        if self._stopped.is_set():
            self._subscription.stop()
        with self._subscription as subscription:
            yield from subscription
