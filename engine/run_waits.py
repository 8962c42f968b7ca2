"""Wakes whoever waits for a run to end, from one follower of the log per process."""

import logging
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.run import Run
from engine.application import Ledgerflow

logger = logging.getLogger(__name__)

ENDING_TOPICS = tuple(get_topic(cls) for cls in (Run.Succeeded, Run.Failed, Run.Cancelled))
RETRY_SECONDS = 1.0

Wake = Callable[[], None]


class RunWaits:
    """Calls each waiter of a run when the run records an ending event.

    A waiter registers (`watch`) before it reads the run: an ending committed after that read
    reaches it through the log, one committed before is in what it read. The follower starts
    with the first waiter, at the log's head, so a process nobody waits in reads nothing.
    A wake is a hint, never a verdict: the waiter reads the run again (a retried run may have
    left its ending behind), and after a lost connection every waiter is woken to look.
    """

    def __init__(self, engine: Ledgerflow) -> None:
        self._engine = engine
        self._waiters: dict[UUID, set[Wake]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._subscription: Any = None
        self._stopped = threading.Event()

    def watch(self, run_id: UUID, wake: Wake) -> Callable[[], None]:
        """Call `wake` (from another thread) when `run_id` may have ended; returns the undo."""
        self._start_once()
        with self._lock:
            self._waiters.setdefault(run_id, set()).add(wake)

        def unwatch() -> None:
            with self._lock:
                waiters = self._waiters.get(run_id)
                if waiters is not None:
                    waiters.discard(wake)
                    if not waiters:
                        del self._waiters[run_id]

        return unwatch

    def stop(self) -> None:
        self._stopped.set()
        subscription = self._subscription
        if subscription is not None:
            subscription.stop()

    def _start_once(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            # The head is taken here, before the waiter reads its run: nothing falls between.
            head = self._engine.recorder.max_notification_id() or 0
            self._thread = threading.Thread(
                target=self._follow, args=(head,), name="run-waits", daemon=True
            )
            self._thread.start()

    def _follow(self, position: int) -> None:
        while not self._stopped.is_set():
            try:
                self._subscription = self._engine.recorder.subscribe(
                    gt=position, topics=ENDING_TOPICS
                )
                for notification in self._subscription:
                    position = notification.id
                    self._wake(notification.originator_id)
                return
            except Exception:
                if self._stopped.is_set():
                    return
                logger.warning("run waits: the log subscription failed; retrying", exc_info=True)
                self._wake_everyone()
                self._stopped.wait(RETRY_SECONDS)

    def _wake(self, run_id: UUID) -> None:
        with self._lock:
            waiters = list(self._waiters.get(run_id, ()))
        for wake in waiters:
            wake()

    def _wake_everyone(self) -> None:
        with self._lock:
            waiters = [wake for group in self._waiters.values() for wake in group]
        for wake in waiters:
            wake()
