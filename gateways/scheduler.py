"""The scheduler loop: sleeps until the next due cron tick, then has the engine fire it."""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from itertools import takewhile
from uuid import UUID

from aggregates.names import workflow_id
from aggregates.schedule_plan import due_at
from engine.application import Ledgerflow
from engine.scheduling import DueTicks, TicksDecided
from projections.schedules.view import ScheduleRow, SchedulesView

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
"""The longest the loop sleeps before it looks for new, changed or paused schedules."""
MAX_DUE_TICKS = 1000
"""Ticks of one schedule decided in one pass (a long downtime is decided in parts)."""


class Scheduler:
    """Reads what is scheduled from the schedules read model and fires due ticks through the
    engine, which keys each tick by its instant: safe on every replica, no leader.

    The read model lags the log a little; what this replica decided itself (its last tick and
    run per schedule) overrides it until the read model catches up. A tick another replica
    fired meanwhile collides in the engine and changes nothing.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        view: SchedulesView,
        *,
        clock: Callable[[], datetime] | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._engine = engine
        self._view = view
        self._clock = clock or engine.clock
        self._refresh_seconds = refresh_seconds
        self._rows: dict[UUID, ScheduleRow] = {}
        self._position = -1
        self._decided: dict[UUID, datetime] = {}
        self._last_run: dict[UUID, UUID] = {}
        self._buffered: set[UUID] = set()
        self._next_due: dict[UUID, datetime | None] = {}
        self._released: set[tuple[UUID, datetime]] = set()
        self._wake = asyncio.Event()
        self.counts: Counter[str] = Counter()
        """Decisions by kind (`fire`, `skip`, `buffer`, `miss`), plus `collided`, `released`
        and `error`."""

    def wake(self) -> None:
        """Look again now (a test moved the clock, a schedule changed)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Fire due ticks until `stop` is set, sleeping until the next one (at most a second)."""
        while not stop.is_set():
            try:
                await self.fire_due()
                pause = self.seconds_to_next()
            except Exception as error:  # PostgreSQL unavailable: try again shortly
                self.counts["error"] += 1
                logger.warning("scheduler could not fire: %s", error)
                pause = self._refresh_seconds
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            with suppress(TimeoutError):
                await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    async def fire_due(self) -> int:
        """One pass: fire every due tick (one transaction), release buffered ticks whose run
        ended, then re-read the read model if the log moved; returns the runs started."""
        if self._position < 0:
            await self.refresh()
        started = 0
        due = self._due(self._clock())
        if due:
            outcomes = await asyncio.to_thread(self._engine.fire_ticks, due)
            started += sum(self._remember(outcome) for outcome in outcomes)
        started += await self._release()
        await self.refresh()
        return started

    async def refresh(self) -> None:
        """Re-read the schedules when the read model has moved since the last read."""
        position = await asyncio.to_thread(self._view.position)
        if position == self._position:
            return
        rows = await asyncio.to_thread(self._view.active)
        self._position = position
        self._rows = {row.workflow_id: row for row in rows}
        for key, row in self._rows.items():
            mine = self._decided.get(key)
            if mine is not None and row.decided_until is not None and row.decided_until >= mine:
                self._forget(key)  # the read model has caught up with this replica
        self._next_due.clear()

    def seconds_to_next(self) -> float:
        """Seconds until the earliest due tick, capped at the refresh interval."""
        now = self._clock()
        pause = self._refresh_seconds
        for key in self._rows:
            due = self._due_instant(key)
            if due is not None:
                pause = min(pause, (due - now).total_seconds())
        return max(0.0, pause)

    def _fires_after(self, key: UUID) -> datetime:
        row = self._rows[key]
        mine = self._decided.get(key)
        return row.fires_after if mine is None else max(row.fires_after, mine)

    def _due_instant(self, key: UUID) -> datetime | None:
        if key not in self._next_due:
            row = self._rows[key]
            assert row.schedule is not None  # `active()` lists scheduled workflows only
            tick = row.schedule.next_tick(self._fires_after(key))
            self._next_due[key] = (
                None if tick is None else due_at(row.schedule, row.tenant, row.workflow, tick)
            )
        return self._next_due[key]

    def _due(self, now: datetime) -> list[DueTicks]:
        due: list[DueTicks] = []
        for key, row in self._rows.items():
            instant = self._due_instant(key)
            if instant is None or instant > now or row.schedule is None:
                continue
            ticks = row.schedule.ticks_between(self._fires_after(key), now, MAX_DUE_TICKS + 1)
            ready = _ready(row, ticks, now)
            if ready:
                due.append(self._due_ticks(key, row, ready))
        return due

    def _due_ticks(self, key: UUID, row: ScheduleRow, ticks: list[datetime]) -> DueTicks:
        return DueTicks(
            tenant=row.tenant,
            workflow=row.workflow,
            ticks=tuple(ticks[:MAX_DUE_TICKS]),
            previous_run=self._last_run.get(key, row.last_run_id),
            buffered=key in self._buffered or row.buffered_tick is not None,
            more=len(ticks) > MAX_DUE_TICKS,
        )

    def _remember(self, outcome: TicksDecided) -> int:
        key = workflow_id(outcome.due.tenant, outcome.due.workflow)
        self._decided[key] = outcome.due.ticks[-1]
        self._next_due.pop(key, None)
        if outcome.fired and not outcome.collided:
            self._last_run[key] = outcome.fired[-1]
        for decision in outcome.decisions:
            self.counts[decision.kind] += 1
            if decision.kind == "buffer":
                self._buffered.add(key)
        self.counts["collided"] += outcome.collided
        return 0 if outcome.collided else len(outcome.fired)

    async def _release(self) -> int:
        started = 0
        for key, row in self._rows.items():
            tick = row.buffered_tick
            if tick is None or row.last_run_active or (key, tick) in self._released:
                continue
            self._released.add((key, tick))
            run_id = await asyncio.to_thread(
                self._engine.release_buffered, row.tenant, row.workflow, tick
            )
            if run_id is not None:
                self.counts["released"] += 1
                self._last_run[key] = run_id
                self._buffered.discard(key)
                started += 1
        return started

    def _forget(self, key: UUID) -> None:
        self._decided.pop(key, None)
        self._last_run.pop(key, None)
        self._buffered.discard(key)


def _ready(row: ScheduleRow, ticks: list[datetime], now: datetime) -> list[datetime]:
    """The leading ticks whose jitter has passed too (the others wait for their delay)."""
    schedule = row.schedule
    assert schedule is not None
    return list(takewhile(lambda t: due_at(schedule, row.tenant, row.workflow, t) <= now, ticks))
