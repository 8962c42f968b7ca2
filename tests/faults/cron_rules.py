"""The checker's cron rules: one fire per tick, and every tick of the rig's schedules decided once,
by its misfire and overlap policies (fired, skipped, buffered or recorded as missed)."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregates.run import Run
from aggregates.schedule import ScheduleSpec
from aggregates.schedule_tick import ScheduleTick
from tests.faults.workload import CRON

Tick = tuple[str, datetime | None]
"""A cron tick: (workflow, scheduled UTC instant)."""
_ONE_TICK = (
    ScheduleTick.ScheduleFired,
    ScheduleTick.ScheduleTickSkipped,
    ScheduleTick.ScheduleTickBuffered,
)


@dataclass
class CronLog:
    """What the checker reads of the schedules from the event log."""

    fires: Counter[Tick] = field(default_factory=Counter)
    """`ScheduleFired` events per cron tick."""
    scheduled_starts: Counter[Tick] = field(default_factory=Counter)
    """Runs started by a cron tick, per tick."""
    decided: dict[str, Counter[datetime]] = field(default_factory=lambda: defaultdict(Counter))
    """How many times each tick of each workflow was decided (fired, skipped, buffered, or
    in a range recorded as missed), backfills aside."""
    misses: list[str] = field(default_factory=list)
    """Missed ranges whose count disagrees with the ticks the schedule has in them."""

    def note(self, event: Any) -> None:
        if isinstance(event, Run.Started) and event.trigger == "schedule":
            self.scheduled_starts[(event.workflow, event.scheduled_for)] += 1
        if isinstance(event, ScheduleTick.ScheduleFired):
            self.fires[(event.workflow, event.scheduled_for)] += 1
        if isinstance(event, _ONE_TICK) and getattr(event, "trigger", "schedule") == "schedule":
            self.decided[event.workflow][event.scheduled_for] += 1
        if isinstance(event, ScheduleTick.ScheduleTicksMissed):
            self._missed(event)

    def _missed(self, event: Any) -> None:
        ticks = [event.scheduled_for]
        if event.workflow in CRON:
            schedule = ScheduleSpec.model_validate(CRON[event.workflow])
            ticks += schedule.ticks_between(event.scheduled_for, event.last, event.count)
            if len(ticks) != event.count or ticks[-1] != event.last:
                self.misses.append(
                    f"cron ticks {event.workflow} from {event.scheduled_for} to {event.last}: "
                    f"recorded as {event.count} missed, the schedule has {len(ticks)} there"
                )
        for tick in ticks:
            self.decided[event.workflow][tick] += 1


def cron_findings(log: CronLog) -> list[str]:
    """Each cron tick fired at most once and each fire started its one run; every tick of a
    schedule, from its first decided to its last, decided exactly once."""
    fired_badly = [
        f"cron tick {workflow} at {instant}: fired {log.fires[(workflow, instant)]} time(s), "
        f"started {log.scheduled_starts[(workflow, instant)]} run(s)"
        for workflow, instant in sorted(log.fires.keys() | log.scheduled_starts.keys())
        if not log.fires[(workflow, instant)] == log.scheduled_starts[(workflow, instant)] == 1
    ]
    return [*fired_badly, *log.misses, *_undecided(log)]


def _undecided(log: CronLog) -> list[str]:
    problems: list[str] = []
    for workflow, decided in sorted(log.decided.items()):
        if workflow not in CRON or not decided:
            continue
        first, last = min(decided), max(decided)
        schedule = ScheduleSpec.model_validate(CRON[workflow])
        expected = [first, *schedule.ticks_between(first, last, len(decided) + 10_000)]
        problems += [
            f"cron tick {workflow} at {tick}: decided {decided[tick]} times "
            "(fired, skipped, buffered or recorded as missed: once is the promise)"
            for tick in expected
            if decided[tick] != 1
        ]
        problems += [
            f"cron tick {workflow} at {tick}: decided, yet not a tick of the schedule"
            for tick in sorted(decided.keys() - set(expected))
        ]
    return problems
