"""The timers loop: fires due retries and passed deadlines that the attempts read model shows."""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from uuid import UUID

from aggregates.run import Recorded
from engine.application import Ledgerflow
from projections.attempt_changes import AttemptKey
from projections.attempts_view import AttemptsView

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.5
MIN_SLEEP_SECONDS = 0.05
BATCH_LIMIT = 100


class Timers:
    """Asks the read model what is due and calls the engine, which appends the events.

    Safe on every replica at once: the Run aggregate fences a second fire (the attempt is no
    longer waiting or running), so a duplicate fire only counts as `fenced`. The read model
    lags the log a little, so an attempt just fired may be seen as due once more: fenced too.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        view: AttemptsView,
        *,
        clock: Callable[[], datetime] | None = None,
        interval: float = INTERVAL_SECONDS,
        limit: int = BATCH_LIMIT,
    ) -> None:
        self._engine = engine
        self._view = view
        self._clock = clock or engine.clock
        self._interval = interval
        self._limit = limit
        self.fired: Counter[str] = Counter()
        """Outcomes by kind: `requeued`, `expired`, `fenced`, `unknown_run`, `error`."""

    async def run(self, stop: asyncio.Event) -> None:
        """Fire what is due until `stop` is set, sleeping until the next due time (capped)."""
        while not stop.is_set():
            try:
                applied = await self.fire_due()
                pause = await self._pause(progressed=applied > 0)
            except Exception as error:  # PostgreSQL unavailable: try again on the next tick
                self.fired["error"] += 1
                logger.warning("timers could not fire: %s", error)
                pause = self._interval
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def fire_due(self) -> int:
        """One pass: requeue due retries and expire passed deadlines; returns how many applied."""
        now = self._clock()
        retries = await asyncio.to_thread(self._view.due_retries, now, self._limit)
        expired = await asyncio.to_thread(self._view.expired_deadlines, now, self._limit)
        applied = 0
        for key in retries:
            applied += await self._fire("requeued", self._engine.requeue_retry, key)
        for key in expired:
            applied += await self._fire("expired", self._engine.expire_attempt, key)
        return applied

    async def _fire(
        self,
        kind: str,
        use_case: Callable[[UUID, str, int], Recorded | None],
        key: AttemptKey,
    ) -> int:
        outcome = await asyncio.to_thread(use_case, *key)
        if outcome is Recorded.APPLIED:
            self.fired[kind] += 1
            logger.info("%s %s/%s attempt %d", kind, key.run_id, key.task, key.attempt)
            return 1
        self.fired["unknown_run" if outcome is None else "fenced"] += 1
        return 0

    async def _pause(self, *, progressed: bool) -> float:
        """Seconds until the next retry or deadline, between MIN_SLEEP_SECONDS and the interval.

        Something still due after a pass that changed nothing was fenced (another replica fired
        it, or the read model lags): wait the whole interval rather than ask again at once.
        """
        due = await asyncio.to_thread(self._view.next_due)
        if due is None:
            return self._interval
        wait = (due - self._clock()).total_seconds()
        if wait <= 0 and not progressed:
            return self._interval
        return max(MIN_SLEEP_SECONDS, min(self._interval, wait))
