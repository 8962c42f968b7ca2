"""Following the event log from a tracked position, one replica at a time, handing batches to
an async handler."""

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import suppress
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    Subscription,
    Tracking,
    TrackingRecorder,
)

from engine.application import Ledgerflow
from projections.follower import STANDBY_POLL_SECONDS, AdvisoryLock, HeldLock

logger = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_DELAY_SECONDS = 1.0
IDLE_SECONDS = 0.5
"""How often an idle follower checks that it still holds its lock."""
CONFIRM_SECONDS = 1.0
"""How often, at most, a busy lock holder checks its lock before handling a batch."""


class TrackedLogFollower(Generic[T]):
    """Reads notifications of `topics` after its tracked position, in order, without gaps.

    A thread follows the log (LISTEN/NOTIFY wakes it) and turns each notification into an item
    with `convert` (None: nothing to do); the event loop hands batches to `handle`, retrying it
    until it succeeds (so `handle` must be idempotent), and only then records the position. A
    crash between the two re-reads the batch: the log is the outbox.

    With a `lock`, only the replica holding it follows (checking it still does when idle, and
    at most once a second before a batch); the others stand by and take over from the tracked
    position when it is free. Without one, every replica follows.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        tracking: TrackingRecorder,
        *,
        name: str,
        topics: Sequence[str],
        convert: Callable[[Notification], T | None],
        handle: Callable[[list[T]], Awaitable[None]],
        batch_size: int,
        lock: AdvisoryLock | None = None,
        standby_poll_seconds: float = STANDBY_POLL_SECONDS,
    ) -> None:
        self._engine = engine
        self._tracking = tracking
        self._name = name
        self._topics = list(topics)
        self._convert = convert
        self._handle = handle
        self._batch_size = batch_size
        self._lock = lock
        self._standby_poll_seconds = standby_poll_seconds
        self._confirmed_at = -CONFIRM_SECONDS  # never: the first batch checks
        self.active = False
        """Whether this replica is following the log (holding the lock, if there is one)."""

    @property
    def position(self) -> int:
        return self._tracking.max_tracking_id(self._engine.name) or 0

    async def run(self, stop: asyncio.Event) -> None:
        """Follow (or stand by while another replica holds the lock) until `stop` is set."""
        while not stop.is_set():
            try:
                if not await self._lead_if_free(stop):
                    await _wait(stop, self._standby_poll_seconds)  # another replica follows
            except Exception as error:  # PostgreSQL restarting, the lock's session gone
                logger.warning("%s stopped following the log: %s", self._name, error)
                await _wait(stop, RETRY_DELAY_SECONDS)

    async def _lead_if_free(self, stop: asyncio.Event) -> bool:
        held = None if self._lock is None else await asyncio.to_thread(self._lock.try_acquire)
        if self._lock is not None and held is None:
            return False
        self.active = True
        try:
            await self._follow(held, stop)
        finally:
            self.active = False
            if held is not None:
                await asyncio.to_thread(held.release)
        return True

    async def _follow(self, held: HeldLock | None, stop: asyncio.Event) -> None:
        queue: asyncio.Queue[tuple[int, T | None]] = asyncio.Queue()
        start = await asyncio.to_thread(lambda: self.position)
        logger.info("%s is active, following the log after position %d", self._name, start)
        reader = _LogReader(
            f"{self._name}-log-reader",
            self._subscribe,
            self._convert,
            start=start,
            queue=queue,
            loop=asyncio.get_running_loop(),
        )
        reader.start()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getting = asyncio.create_task(queue.get())
                await asyncio.wait(
                    {getting, stopping}, timeout=IDLE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if not getting.done():
                    getting.cancel()
                    if not stop.is_set():
                        await _confirm(held)  # idle: a lost lock ends the following now
                    continue
                batch = [getting.result()]
                while len(batch) < self._batch_size and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._handle_until_done(batch, held, stop)
        finally:
            stopping.cancel()
            reader.stop()
            await asyncio.to_thread(reader.join)

    async def _handle_until_done(
        self, batch: list[tuple[int, T | None]], held: HeldLock | None, stop: asyncio.Event
    ) -> None:
        items = [item for _, item in batch if item is not None]
        last = Tracking(self._engine.name, batch[-1][0])
        while True:
            # Raises once the lock is lost: the replica that took it handles this batch.
            # Checked at most every CONFIRM_SECONDS, not per batch (a round trip on the way
            # of every dispatch): handling is idempotent, so a replica that lost its lock
            # a moment ago and handles a batch the new holder also handles does no harm.
            if time.monotonic() - self._confirmed_at >= CONFIRM_SECONDS:
                await _confirm(held)
                self._confirmed_at = time.monotonic()
            try:
                if items:
                    await self._handle(items)
                # Retried with the handling: PostgreSQL may be out of reach for a while too.
                await asyncio.to_thread(self._record_position, last)
            except Exception as error:  # NATS or PostgreSQL down or slow: both are idempotent
                logger.warning("%s: %d item(s) failed, retrying: %s", self._name, len(items), error)
                if stop.is_set():
                    return
                await asyncio.sleep(RETRY_DELAY_SECONDS)
            else:
                return

    def _record_position(self, position: Tracking) -> None:
        try:
            self._tracking.insert_tracking(position)
        except IntegrityError:
            # Another replica already recorded this position or a later one: one that took the
            # lock while this one, unaware it had lost it, handled the same batch (or any
            # replica, without a lock). Its handling was idempotent, like ours.
            logger.debug("%s: position %d already recorded", self._name, position.notification_id)

    def _subscribe(self, after: int) -> Subscription[Any]:
        return self._engine.recorder.subscribe(gt=after, topics=self._topics)


async def _confirm(held: HeldLock | None) -> None:
    if held is not None:
        await asyncio.to_thread(held.confirm)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class _LogReader(threading.Thread, Generic[T]):
    """The follower's thread: the library's subscription is blocking, so it lives here."""

    def __init__(
        self,
        name: str,
        subscribe: Callable[[int], Subscription[Any]],
        convert: Callable[[Notification], T | None],
        *,
        start: int,
        queue: "asyncio.Queue[tuple[int, T | None]]",
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._subscribe = subscribe
        self._convert = convert
        self._last = start
        self._queue = queue
        self._loop = loop
        self._stopped = threading.Event()
        self._subscription: Subscription[Any] | None = None

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                for notification in self._notifications():
                    item = (notification.id, self._convert(notification))
                    self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
                    self._last = notification.id
            except Exception as error:  # PostgreSQL restarting: follow again from where we were
                logger.warning("%s lost the log, following again: %s", self.name, error)
                self._stopped.wait(RETRY_DELAY_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
        if self._subscription is not None:
            with suppress(Exception):
                self._subscription.stop()

    def _notifications(self) -> Iterator[Notification]:
        self._subscription = self._subscribe(self._last)
        if self._stopped.is_set():
            self._subscription.stop()
        with self._subscription as subscription:
            yield from subscription
