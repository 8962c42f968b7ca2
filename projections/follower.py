"""A single-active log follower: holds an advisory lock, then applies the log in tracked batches.

The lock (`AdvisoryLock`) is shared with the followers in `streams/` that publish instead of
writing tables (the dispatcher), so every log follower takes turns the same way.
"""

import asyncio
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import ExitStack, suppress
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Notification, Subscription, Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
STANDBY_POLL_SECONDS = 2.0
RETRY_DELAY_SECONDS = 1.0
IDLE_SECONDS = 0.5
"""How long the follower waits for new events before it checks its lock and `stop` again."""
LINGER_SLICE_SECONDS = 0.005
"""How often a lingering batch looks whether it is full."""

ApplyBatch = Callable[[Sequence[object], Tracking, int], bool]
"""Apply decoded events and move the position from the previous one (the third argument) in
one transaction; False if the recorded position was not the previous one."""


class PositionSupersededError(RuntimeError):
    """The recorded position moved under this follower (another writer, a rebuild swapped in
    new tables): follow again from the recorded one."""


class TrackedFollower:
    """Follows an application's log from its tracked position, one transaction per batch.

    Only the replica holding the PostgreSQL advisory lock named after the follower (and its
    schema) applies events; others wait as standbys and take over when the lock is free.
    Notifications whose topic is not in `topics` are not decoded but still advance the position.
    """

    def __init__(
        self,
        name: str,
        *,
        log: ApplicationRecorder,
        decode: Callable[[Notification], object],
        topics: Collection[str],
        apply_batch: ApplyBatch,
        tracked_position: Callable[[], int],
        datastore: PostgresDatastore,
        application_name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        standby_poll_seconds: float = STANDBY_POLL_SECONDS,
        linger_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self._log = log
        self._decode = decode
        self._topics = frozenset(topics)
        self._apply_batch = apply_batch
        self._tracked_position = tracked_position
        self._application_name = application_name
        self._batch_size = batch_size
        self._standby_poll_seconds = standby_poll_seconds
        self._linger_seconds = linger_seconds
        self._lock = AdvisoryLock(datastore, name)
        self.position = 0
        """The last position this follower applied (in memory; the table is the truth)."""
        self.active = False
        """Whether this replica holds the lock and is applying the log."""

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the log (or stand by) until `stop` is set."""
        halt = threading.Event()
        thread = threading.Thread(target=self._serve, args=(halt,), name=self.name, daemon=True)
        thread.start()
        try:
            await stop.wait()
        finally:
            halt.set()
            await asyncio.to_thread(thread.join)

    def _serve(self, halt: threading.Event) -> None:
        while not halt.is_set():
            try:
                if not self._lead_if_free(halt):
                    halt.wait(self._standby_poll_seconds)  # a standby: another replica leads
            except PositionSupersededError as error:
                logger.info("%s", error)
            except Exception as error:  # PostgreSQL restarting, a lost lock: try again
                logger.warning("%s stopped following the log: %s", self.name, error)
                halt.wait(RETRY_DELAY_SECONDS)

    def _lead_if_free(self, halt: threading.Event) -> bool:
        held = self._lock.try_acquire()
        if held is None:
            return False
        try:
            self.active = True
            self._follow(held, halt)
        finally:
            self.active = False
            held.release()
        return True

    def _follow(self, held: "HeldLock", halt: threading.Event) -> None:
        self.position = self._tracked_position()
        logger.info("%s is active, following the log after position %d", self.name, self.position)
        with self._log.subscribe(gt=self.position) as subscription:
            feed = _Feed(subscription, capacity=4 * self._batch_size)
            feed.start()
            try:
                while not halt.is_set():
                    batch = feed.take(
                        self._batch_size, timeout=IDLE_SECONDS, linger=self._linger_seconds
                    )
                    if batch:
                        self._apply(batch)
                    else:
                        held.confirm()
            finally:
                feed.close()
                subscription.stop()
                feed.join()

    def _apply(self, batch: Sequence[Notification]) -> None:
        events = [self._decode(n) for n in batch if n.topic in self._topics]
        last = batch[-1].id
        if not self._apply_batch(events, Tracking(self._application_name, last), self.position):
            msg = (
                f"{self.name} is no longer at position {self.position}: following on from "
                "its tables"
            )
            raise PositionSupersededError(msg)
        self.position = last


class _Feed(threading.Thread):
    """Moves notifications from a blocking subscription to a bounded queue, for batching."""

    def __init__(self, subscription: Subscription[Any], capacity: int) -> None:
        super().__init__(name="log-feed", daemon=True)
        self._subscription = subscription
        self._items: queue.Queue[Notification] = queue.Queue(maxsize=capacity)
        self._closed = threading.Event()
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            for notification in self._subscription:
                if not self._put(notification):
                    return
        except BaseException as error:  # handed to the reader by `take`
            self._error = error

    def _put(self, notification: Notification) -> bool:
        while not self._closed.is_set():
            try:
                self._items.put(notification, timeout=IDLE_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def take(self, limit: int, timeout: float, linger: float = 0.0) -> list[Notification]:
        """Up to `limit` notifications: waits `timeout` for the first, then `linger` more for
        others to join it (a bigger batch, fewer commits), taking what is there by then."""
        try:
            batch = [self._items.get(timeout=timeout)]
        except queue.Empty:
            if not self.is_alive():
                raise self._error or RuntimeError("the log subscription ended") from None
            return []
        # Dozing in slices instead of waiting on the queue, which woke this thread (and took
        # the GIL) for every notification that arrived while the batch lingered.
        until = time.monotonic() + linger
        while self._items.qsize() < limit - 1 and (left := until - time.monotonic()) > 0:
            time.sleep(min(left, LINGER_SLICE_SECONDS))
        while len(batch) < limit:
            try:
                batch.append(self._items.get_nowait())
            except queue.Empty:
                break
        return batch

    def close(self) -> None:
        self._closed.set()


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock named after a follower (and its schema): the
    replica whose connection holds it is the active one; it goes with that connection."""

    def __init__(self, datastore: PostgresDatastore, name: str) -> None:
        self._datastore = datastore
        self.key = advisory_lock_key(f"{datastore.schema}.{name}")

    def try_acquire(self) -> "HeldLock | None":
        """The lock, held on a pooled connection until released; None if another has it."""
        with ExitStack() as session:
            connection = session.enter_context(self._datastore.get_connection())
            acquired = connection.execute(
                "SELECT pg_try_advisory_lock(%s) AS acquired", (self.key,)
            ).fetchone()
            held = acquired is not None and acquired["acquired"]
            return HeldLock(connection, self.key, session.pop_all()) if held else None


class HeldLock:
    """An acquired `AdvisoryLock` and the connection whose session holds it."""

    def __init__(self, connection: Connection[Any], key: int, session: ExitStack) -> None:
        self._connection = connection
        self._key = key
        self._session = session

    def confirm(self) -> None:
        """Raise if the session holding the lock has ended (and the lock with it): a standby
        may have taken over, so the caller must stop acting as the active replica."""
        self._connection.execute("SELECT 1")

    def release(self) -> None:
        """Unlock (if the session still can) and give the connection back to the pool."""
        with self._session, suppress(Exception):
            self._connection.execute("SELECT pg_advisory_unlock(%s)", (self._key,))


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock`, derived from a name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
