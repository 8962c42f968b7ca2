"""One shared reader of the log: every subscriber still sees every notification after its
start, in order, once, whatever it starts from, however far it falls behind."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast
from uuid import uuid4

from eventsourcing.persistence import Notification, StoredEvent, Subscription
from eventsourcing.popo import POPOApplicationRecorder, POPOSubscription

from ops.shared_log import SharedLog

HANG_SECONDS = 30.0


class CountingLog:
    """An in-memory log, and a `SharedLog` over it that counts the readers it starts."""

    def __init__(self, *, catch_up_limit: int = 500, backlog_limit: int = 10_000) -> None:
        self.recorder = POPOApplicationRecorder()
        self.follows = 0
        self.shared = SharedLog(
            self._follow,
            lambda after, topics, limit: self.recorder.select_notifications(
                after, limit, topics=topics, inclusive_of_start=False
            ),
            lambda: self.recorder.max_notification_id() or 0,
            catch_up_limit=catch_up_limit,
            backlog_limit=backlog_limit,
        )

    def _follow(self, after: int) -> Subscription[Any]:
        self.follows += 1
        return self.recorder.subscribe(gt=after)

    def append(self, count: int, topic: str = "run") -> None:
        for _ in range(count):
            self.recorder.insert_events([StoredEvent(uuid4(), 1, topic, b"{}")])

    def subscribe(self, gt: int, topics: tuple[str, ...] = ()) -> Subscription[Any]:
        return self.shared.subscribe(self.recorder, gt, topics)


@contextmanager
def reading(subscription: Subscription[Any], count: int) -> Iterator[list[Notification]]:
    """Collect `count` notifications in a thread (as a follower does), then stop."""
    seen: list[Notification] = []

    def read() -> None:
        for notification in subscription:
            seen.append(notification)
            if len(seen) == count:
                return

    thread = threading.Thread(target=read, daemon=True)
    with subscription:
        thread.start()
        yield seen
        thread.join(HANG_SECONDS)
    assert not thread.is_alive(), f"read {len(seen)} of {count}"


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "hung"
        time.sleep(0.001)


def ids(notifications: list[Notification]) -> list[int]:
    return [notification.id for notification in notifications]


def test_subscribers_starting_anywhere_see_everything_after_their_start_in_order() -> None:
    log = CountingLog(catch_up_limit=7)
    log.append(20)

    with (
        reading(log.subscribe(gt=0), 60) as from_start,
        reading(log.subscribe(gt=15), 45) as from_middle,
    ):
        log.append(40)

    assert ids(from_start) == list(range(1, 61))
    assert ids(from_middle) == list(range(16, 61))


def test_one_reader_follows_the_log_for_all_subscribers() -> None:
    log = CountingLog()

    with reading(log.subscribe(gt=0), 10), reading(log.subscribe(gt=0), 10):
        log.append(10)

    assert log.follows == 1


def test_a_subscriber_that_falls_behind_reads_by_itself_and_misses_nothing() -> None:
    log = CountingLog(backlog_limit=3)
    subscription = log.subscribe(gt=0)

    with subscription:
        log.append(1)
        seen = [next(subscription)]  # caught up: from now on it reads from its queue
        log.append(49)  # nobody reads: the queue overflows and the reader drops it
        until(lambda: log.shared.subscribers == 0)
        seen += [next(subscription) for _ in range(49)]

    assert ids(seen) == list(range(1, 51))


def test_a_subscriber_sees_only_its_topics() -> None:
    log = CountingLog()
    log.append(2, "queued")

    with reading(log.subscribe(gt=0, topics=("queued",)), 4) as queued:
        log.append(3, "other")
        log.append(2, "queued")

    assert ids(queued) == [1, 2, 6, 7]


def test_a_stopped_subscription_ends_its_iteration() -> None:
    log = CountingLog()
    subscription = log.subscribe(gt=0)

    subscription.stop()

    assert list(subscription) == []


def test_what_commits_before_the_readers_listen_is_open_is_still_read() -> None:
    log = CountingLog()
    followed = threading.Event()

    def deaf_follow(after: int) -> Subscription[Any]:
        # The library's subscription whose LISTEN is not open yet: it hears of no commit.
        subscription = cast(POPOSubscription, log.recorder.subscribe(gt=after))
        log.recorder.unlisten(subscription._has_been_notified)
        time.sleep(0.1)  # its first read of the (empty) log is done, as is the subscriber's
        followed.set()
        return subscription

    log.shared = SharedLog(
        deaf_follow,
        lambda after, topics, limit: log.recorder.select_notifications(
            after, limit, topics=topics, inclusive_of_start=False
        ),
        lambda: log.recorder.max_notification_id() or 0,
    )

    with reading(log.subscribe(gt=0), 3) as seen:
        assert followed.wait(HANG_SECONDS)
        log.append(3)

    assert ids(seen) == [1, 2, 3]
