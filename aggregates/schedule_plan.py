"""What to do with a schedule's due ticks: the misfire policy, then the overlap policy."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from aggregates.schedule import MAX_CATCH_UP_TICKS, MISFIRE_GRACE, ScheduleSpec

DecisionKind = Literal["fire", "skip", "buffer", "miss"]


@dataclass(frozen=True)
class Decision:
    """One decision about a tick (or, for `miss`, about a range of ticks, oldest first)."""

    kind: DecisionKind
    ticks: tuple[datetime, ...]
    cancel_active: bool = False
    reason: str = ""

    @property
    def tick(self) -> datetime:
        return self.ticks[0]


def due_at(schedule: ScheduleSpec, tenant: str, workflow: str, tick: datetime) -> datetime:
    """When a tick is due: its instant plus its jitter."""
    return tick + schedule.delay(tenant, workflow, tick)


def split_missed(
    schedule: ScheduleSpec, tenant: str, workflow: str, ticks: list[datetime], now: datetime
) -> tuple[list[datetime], list[datetime]]:
    """(missed, to fire) under the misfire policy; `ticks` are due and undecided, oldest first.

    A tick due longer than `MISFIRE_GRACE` ago was missed (no scheduler ran): `skip` fires
    none of them, `fire_once` the latest, `catch_up` the latest `MAX_CATCH_UP_TICKS`.
    """
    late = [t for t in ticks if now - due_at(schedule, tenant, workflow, t) > MISFIRE_GRACE]
    on_time = ticks[len(late) :]
    if not late or schedule.misfire == "skip":
        return late, on_time
    keep = 1 if schedule.misfire == "fire_once" else MAX_CATCH_UP_TICKS
    return late[:-keep], [*late[-keep:], *on_time]


def plan_ticks(
    schedule: ScheduleSpec,
    tenant: str,
    workflow: str,
    ticks: list[datetime],
    now: datetime,
    *,
    active: bool,
    buffered: bool,
    superseded: bool = False,
) -> list[Decision]:
    """Decisions for the due, undecided `ticks` (oldest first).

    `active`: the schedule's previous run has not ended; `buffered`: a tick already waits
    for it (`buffer_one`); `superseded`: later ticks are due too (a long downtime decided in
    parts), so all of these were missed. A tick fired here starts a run that is active for
    the next one.
    """
    if superseded:
        return [Decision("miss", tuple(ticks), reason=schedule.misfire)]
    missed, to_fire = split_missed(schedule, tenant, workflow, ticks, now)
    decisions = [Decision("miss", tuple(missed), reason=schedule.misfire)] if missed else []
    for tick in to_fire:
        decision = _overlapping(schedule, tick, active=active, buffered=buffered)
        buffered = buffered or decision.kind == "buffer"
        active = active or decision.kind == "fire"
        decisions.append(decision)
    return decisions


def _overlapping(
    schedule: ScheduleSpec, tick: datetime, *, active: bool, buffered: bool
) -> Decision:
    if not active or schedule.overlap == "allow":
        return Decision("fire", (tick,))
    if schedule.overlap == "cancel_previous":
        return Decision("fire", (tick,), cancel_active=True)
    if schedule.overlap == "buffer_one" and not buffered:
        return Decision("buffer", (tick,), reason="overlap: waits for the active run")
    reason = (
        "overlap: a tick is already buffered"
        if schedule.overlap == "buffer_one"
        else "overlap: the previous run is still active"
    )
    return Decision("skip", (tick,), reason=reason)
