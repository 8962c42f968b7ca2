"""One schedule's undecided ticks, walked once: the scheduler's cache of croniter's answers."""

from collections.abc import Iterator
from datetime import datetime

from aggregates.schedule import ScheduleSpec
from aggregates.schedule_plan import due_at


class UpcomingTicks:
    """The ticks of `schedule` after `after`, from one croniter walk kept between passes.

    Building a croniter costs more than the tick it finds, and the scheduler asks for every
    schedule's next due instant several times a second (a hundred schedules cost it ~20 ms
    a pass on the event loop); walking on from the last decided tick costs one step a tick.
    """

    def __init__(self, schedule: ScheduleSpec, tenant: str, workflow: str, after: datetime):
        self.schedule = schedule
        self.after = after
        """The last tick decided (or the instant the schedule took effect)."""
        self._tenant = tenant
        self._workflow = workflow
        self._walk: Iterator[datetime] = schedule.ticks_after(after)
        self._ahead: list[datetime] = []  # walked, not decided yet

    def next_due(self) -> datetime | None:
        """When the first undecided tick is due (its instant plus its jitter); None once the
        schedule has ended."""
        if not self._ahead and not self._step():
            return None
        return due_at(self.schedule, self._tenant, self._workflow, self._ahead[0])

    def until(self, now: datetime, limit: int) -> list[datetime]:
        """Up to `limit` undecided ticks at or before `now`, oldest first."""
        while len(self._ahead) < limit and (not self._ahead or self._ahead[-1] <= now):
            if not self._step():
                break
        return [tick for tick in self._ahead[:limit] if tick <= now]

    def decided(self, through: datetime) -> None:
        """Ticks up to `through` are decided: walk on from there."""
        self.after = max(self.after, through)
        self._ahead = [tick for tick in self._ahead if tick > through]

    def _step(self) -> bool:
        tick = next(self._walk, None)
        if tick is None:
            return False
        self._ahead.append(tick)
        return True
