"""One reader of the event log per process, shared by every subscription its followers open."""

import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Notification, Subscription
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

logger = logging.getLogger(__name__)

CATCH_UP_LIMIT = 500
"""Notifications a subscriber reads per query while it catches up by itself."""
BACKLOG_LIMIT = 10_000
"""Notifications a subscriber may fall behind the shared reader before it reads by itself."""
RETRY_SECONDS = 1.0
SETTLE_SECONDS = 1.0
"""When the reader looks again after it began to follow (see `_Reader._read`)."""

Follow = Callable[[int], Subscription[Any]]
"""The library's own subscription after a position (LISTEN/NOTIFY and a pull thread)."""
Select = Callable[[int, Sequence[str], int], Sequence[Notification]]
"""Notifications of some topics (all if none) after a position, up to a limit."""


class SharedLogRecorder(PostgresApplicationRecorder):
    """The library's recorder whose subscriptions share one reader of the log (`SharedLog`)."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._shared_log = SharedLog(
            follow=super().subscribe,
            select=lambda after, topics, limit: self.select_notifications(
                after, limit, topics=topics, inclusive_of_start=False
            ),
            head=lambda: self.max_notification_id() or 0,
        )

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return self._shared_log.subscribe(self, gt, topics)


class SharedLog:
    """Reads the log once for all its subscribers, instead of once per subscriber.

    An engine runs a dozen followers (dispatcher, relays, read models); each library
    subscription holds a LISTEN connection and a thread that queries the log on every NOTIFY,
    so every commit was read a dozen times. Here one reader thread follows the log from the
    head it found when the first subscriber came, and hands each notification, in order, to
    every subscriber's queue. A subscriber may start anywhere: it first reads what it needs by
    itself, then goes on from its queue. It joined the reader before that read, so what the
    read could not see is in its queue: no gap (inserts commit in position order, ADR 2).
    A subscriber that falls `backlog_limit` behind is dropped by the reader and reads by itself
    again, so a stuck follower holds no unbounded backlog.
    """

    def __init__(
        self,
        follow: Follow,
        select: Select,
        head: Callable[[], int],
        *,
        catch_up_limit: int = CATCH_UP_LIMIT,
        backlog_limit: int = BACKLOG_LIMIT,
    ) -> None:
        self._follow = follow
        self._select = select
        self._head = head
        self.catch_up_limit = catch_up_limit
        self.backlog_limit = backlog_limit
        self._lock = threading.Lock()
        self._subscribers: set[SharedSubscription] = set()
        self._reader: _Reader | None = None

    @property
    def subscribers(self) -> int:
        """How many subscriptions the reader currently feeds."""
        with self._lock:
            return len(self._subscribers)

    def subscribe(
        self, recorder: ApplicationRecorder, gt: int | None, topics: Sequence[str]
    ) -> "SharedSubscription":
        return SharedSubscription(self, recorder, gt, topics)

    def select(self, after: int, topics: Sequence[str]) -> Sequence[Notification]:
        return self._select(after, topics, self.catch_up_limit)

    def join(self, subscriber: "SharedSubscription") -> None:
        """From now on, `subscriber` receives every notification the reader reads."""
        with self._lock:
            if self._reader is None:
                self._reader = _Reader(self, self._follow, start=self._head())
                self._reader.start()
            self._subscribers.add(subscriber)

    def leave(self, subscriber: "SharedSubscription") -> None:
        with self._lock:
            self._subscribers.discard(subscriber)
            if not self._subscribers and self._reader is not None:
                self._reader.stop()  # it ends by itself; the next subscriber starts another
                self._reader = None

    def deliver(self, reader: "_Reader", notification: Notification) -> bool:
        """Hand `notification` to every subscriber; False once `reader` is no longer in use."""
        with self._lock:
            if reader is not self._reader:
                return False
            for subscriber in list(self._subscribers):
                if not subscriber.offer(notification):
                    self._subscribers.discard(subscriber)
            return True


class SharedSubscription(Subscription[ApplicationRecorder]):
    """What `subscribe` returns: the library's subscription interface over a `SharedLog`."""

    def __init__(
        self,
        log: SharedLog,
        recorder: ApplicationRecorder,
        gt: int | None,
        topics: Sequence[str],
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._log = log
        self._last = gt or 0
        self._wanted = frozenset(topics)
        self._read: deque[Notification] = deque()
        self._caught_up = False
        self._queue: queue.Queue[Notification | None] = queue.Queue(maxsize=log.backlog_limit)
        self._dropped = threading.Event()
        log.join(self)

    def offer(self, notification: Notification) -> bool:
        """In the reader's thread: queue `notification`; False (dropped) when too far behind."""
        try:
            self._queue.put_nowait(notification)
        except queue.Full:
            self._dropped.set()
            return False
        return True

    def stop(self) -> None:
        super().stop()
        self._log.leave(self)
        with contextlib.suppress(queue.Full):  # a full queue: __next__ is not waiting
            self._queue.put_nowait(None)  # wakes __next__

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            if self._read:
                return self._read.popleft()
            if not self._caught_up:
                self._catch_up()
                continue
            if self._dropped.is_set() and self._queue.empty():
                self._dropped.clear()
                self._caught_up = False
                self._log.join(self)
                continue
            notification = self._queue.get()
            if notification is None or notification.id <= self._last:
                continue  # a wake-up, or what catching up already read
            self._last = notification.id
            if not self._wanted or notification.topic in self._wanted:
                return notification
        raise StopIteration

    def _catch_up(self) -> None:
        notifications = self._log.select(self._last, tuple(self._wanted))
        self._read.extend(notifications)
        if notifications:
            self._last = notifications[-1].id
        self._caught_up = len(notifications) < self._log.catch_up_limit


class _Reader(threading.Thread):
    """Follows the log with the library's subscription, again after an error, until stopped."""

    def __init__(self, log: SharedLog, follow: Follow, *, start: int) -> None:
        super().__init__(name="shared-log-reader", daemon=True)
        self._log = log
        self._follow = follow
        self._last = start
        self._stopped = threading.Event()
        self._subscription: Subscription[Any] | None = None

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._read()
            except Exception as error:  # PostgreSQL restarting: follow again from where we were
                logger.warning("the shared log reader lost the log, following again: %s", error)
                self._stopped.wait(RETRY_SECONDS)

    def _read(self) -> None:
        self._subscription = self._follow(self._last)
        if self._stopped.is_set():
            self._subscription.stop()
        # The library's subscription reads once, then waits for a NOTIFY on a LISTEN that its
        # other thread opens a moment later: what commits in between would wait for the next
        # commit. One more look once the LISTEN is surely open closes that window.
        settle = threading.Timer(SETTLE_SECONDS, _look_again, args=(self._subscription,))
        settle.daemon = True
        settle.start()
        with self._subscription as subscription:
            for notification in subscription:
                if not self._log.deliver(self, notification):
                    return
                self._last = notification.id

    def stop(self) -> None:
        self._stopped.set()
        if self._subscription is not None:
            self._subscription.stop()


def _look_again(subscription: Subscription[Any]) -> None:
    """Make a library subscription read the log again, as a NOTIFY would."""
    notified = getattr(subscription, "_has_been_notified", None)
    if isinstance(notified, threading.Event):
        notified.set()
