"""The scheduler loop: wakes just before the next due cron tick, has the engine fire it on time."""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from functools import partial
from itertools import takewhile
from typing import Any, TypeVar
from uuid import UUID

from aggregates.names import workflow_id
from aggregates.schedule_plan import due_at
from engine.application import Ledgerflow
from engine.due_ticks import DueTicks, TicksDecided
from gateways.upcoming_ticks import UpcomingTicks
from projections.schedules.changes import Change, SchedulePaused, ScheduleSet, ScheduleStopped
from projections.schedules.view import ScheduleRow, SchedulesView

logger = logging.getLogger(__name__)
T = TypeVar("T")

REFRESH_SECONDS = 1.0
"""The longest the loop sleeps before it looks for new, changed or paused schedules."""
MAX_DUE_TICKS = 1000
"""Ticks of one schedule decided in one pass (a long downtime is decided in parts)."""
LEAD_SECONDS = (0.01, 0.5)
"""How long before a tick the loop wakes to load what firing it needs (twice the last load
took, within these bounds): at the instant it only decides and commits."""
FIRST_LEAD_SECONDS = 0.2
"""The lead until a first on-time pass has measured one: that pass runs cold (statements not
yet prepared on the pool's connections), and took up to ~40 ms more than the next ones."""
SPIN_SECONDS = 0.001
"""The last stretch before a tick is waited out awake: a sleeping thread wakes a fraction
of a millisecond late, the event loop's timer up to a few milliseconds late."""
_DEFINITIONS = (ScheduleSet, SchedulePaused, ScheduleStopped)
"""The read-model changes that add, change or remove a schedule to fire."""


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
        self._upcoming: dict[UUID, UpcomingTicks] = {}
        self._released: set[tuple[UUID, datetime]] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler")
        self._lead = FIRST_LEAD_SECONDS
        self.counts: Counter[str] = Counter()
        """Decisions by kind (`fire`, `skip`, `buffer`, `miss`), plus `collided`, `released`
        and `error`."""

    def wake(self) -> None:
        """Look again now (a test moved the clock, a schedule changed)."""
        self._wake.set()

    def schedules_changed(self, changes: Sequence[Change]) -> None:
        """Hears, from the schedules projection's thread, each batch it committed: a schedule
        set, paused, resumed or stopped wakes the loop, whose next look reads it."""
        loop = self._loop
        if loop is not None and any(isinstance(c, _DEFINITIONS) for c in changes):
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Fire due ticks until `stop` is set, sleeping until shortly before the next one (at
        most a second), then loading what it needs and firing it at its instant."""
        self._loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                await self._pass(stop)
        finally:
            self._thread.shutdown(wait=False)

    async def _pass(self, stop: asyncio.Event) -> None:
        self._wake.clear()  # before looking: a change heard from now on wakes the next wait
        try:
            await self.fire_due()
            pause = self.seconds_to_next()
            if pause <= self._lead:
                await self.fire_next_on_time()
                return
            pause -= self._lead
        except Exception as error:  # PostgreSQL unavailable: try again shortly
            self.counts["error"] += 1
            logger.warning("scheduler could not fire: %s", error)
            pause = self._refresh_seconds
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
            outcomes = await self._in_thread(self._engine.fire_ticks, due)
            started += sum(self._remember(outcome) for outcome in outcomes)
        started += await self._release()
        await self.refresh()
        return started

    async def fire_next_on_time(self) -> int:
        """Load what the earliest due tick (and every tick due with it) needs, wait for its
        instant, then fire them in one transaction; returns the runs started."""
        began = time.monotonic()
        await self.refresh()  # schedules applied since the last pass fire on time too
        instant = self._earliest_due()
        due = [] if instant is None else self._due(instant)
        if instant is None or not due:
            return 0
        outcomes = await self._in_thread(self._fire_on_time, instant, due, began)
        return sum(self._remember(outcome) for outcome in outcomes)

    def _fire_on_time(
        self, instant: datetime, due: list[DueTicks], began: float
    ) -> list[TicksDecided]:
        """In the scheduler's thread, from loading to commit, so no event-loop turn or queue
        of the shared thread pool comes between: fire `due` once the clock reaches `instant`
        (nothing if a clock that stands still never does). The next pass wakes twice as long
        before its tick as this one took to get ready (since `began`)."""
        prepared = self._engine.prepare_ticks(due)
        low, high = LEAD_SECONDS
        self._lead = min(high, max(low, 2 * (time.monotonic() - began)))
        limit = (instant - self._clock()).total_seconds() + self._refresh_seconds
        if not _wait_until(self._clock, instant, limit):
            return []
        return self._engine.fire_prepared(prepared)

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking work in the scheduler's own thread: under load the event loop's
        shared pool has a queue, and a tick must not wait in it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, partial(function, *args))

    async def refresh(self) -> None:
        """Re-read the schedules when the read model has moved since the last read."""
        position = await self._in_thread(self._view.position)
        if position == self._position:
            return
        rows = await self._in_thread(self._view.active)
        self._position = position
        self._rows = {row.workflow_id: row for row in rows}
        self._upcoming = {k: ticks for k, ticks in self._upcoming.items() if k in self._rows}
        for key, row in self._rows.items():
            mine = self._decided.get(key)
            if mine is not None and row.decided_until is not None and row.decided_until >= mine:
                self._forget(key)  # the read model has caught up with this replica

    def seconds_to_next(self) -> float:
        """Seconds until the earliest due tick, capped at the refresh interval."""
        instant = self._earliest_due()
        pause = self._refresh_seconds
        if instant is not None:
            pause = min(pause, (instant - self._clock()).total_seconds())
        return max(0.0, pause)

    def _earliest_due(self) -> datetime | None:
        instants = [self._due_instant(key) for key in self._rows]
        return min((instant for instant in instants if instant is not None), default=None)

    def _fires_after(self, key: UUID) -> datetime:
        row = self._rows[key]
        mine = self._decided.get(key)
        return row.fires_after if mine is None else max(row.fires_after, mine)

    def _ticks(self, key: UUID) -> UpcomingTicks:
        """The schedule's undecided ticks, walked on from the last pass unless the schedule
        or where it fires from changed (a revision, a resume, another replica's decisions)."""
        row = self._rows[key]
        assert row.schedule is not None  # `active()` lists scheduled workflows only
        after = self._fires_after(key)
        ticks = self._upcoming.get(key)
        if ticks is None or ticks.after != after or ticks.schedule != row.schedule:
            ticks = UpcomingTicks(row.schedule, row.tenant, row.workflow, after)
            self._upcoming[key] = ticks
        return ticks

    def _due_instant(self, key: UUID) -> datetime | None:
        return self._ticks(key).next_due()

    def _due(self, now: datetime) -> list[DueTicks]:
        due: list[DueTicks] = []
        for key, row in self._rows.items():
            instant = self._due_instant(key)
            if instant is None or instant > now:
                continue
            ticks = self._ticks(key).until(now, MAX_DUE_TICKS + 1)
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
        ticks = self._upcoming.get(key)
        if ticks is not None:
            ticks.decided(outcome.due.ticks[-1])
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
            run_id = await self._in_thread(
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


def _wait_until(clock: Callable[[], datetime], instant: datetime, limit: float) -> bool:
    """Sleep, then spin for the last `SPIN_SECONDS`, until `clock` reaches `instant`; False
    if `limit` seconds pass first."""
    give_up = time.monotonic() + limit
    while (left := (instant - clock()).total_seconds()) > 0:
        if time.monotonic() >= give_up:
            return False
        if left > SPIN_SECONDS:
            time.sleep(left - SPIN_SECONDS)
    return True
