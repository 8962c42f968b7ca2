"""A workflow's cron schedule: its fields, their checks, and the UTC instants it ticks at."""

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_CRON_LENGTH = 256
MAX_JITTER_SECONDS = 3600
MAX_BACKFILL_TICKS = 1000
MAX_CATCH_UP_TICKS = 100
MISFIRE_GRACE = timedelta(seconds=1)
"""A tick due longer ago than this when the scheduler gets to it was missed (downtime)."""

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_PROBE_BASE = datetime(2000, 1, 1, tzinfo=UTC)
# A cron that fires at all fires within 28 years (every weekday and leap day comes round).
_PROBE_HORIZON = timedelta(days=366 * 28)

Misfire = Literal["skip", "fire_once", "catch_up"]
Overlap = Literal["allow", "skip", "buffer_one", "cancel_previous"]


class ScheduleSpec(BaseModel):
    """When a workflow runs by itself: a cron expression read in an IANA time zone.

    DST (as Vixie cron): a time in the skipped hour fires at the first instant after it; in
    the repeated hour a job whose hour field is fixed fires once (the first pass), while jobs
    whose hour field steps (`*`, `*/2`) fire in every real hour. Ticks are UTC instants.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: Annotated[str, Field(min_length=1, max_length=MAX_CRON_LENGTH)]
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    jitter_seconds: Annotated[int, Field(ge=0, le=MAX_JITTER_SECONDS, strict=True)] = 0
    misfire: Misfire = "fire_once"
    overlap: Overlap = "allow"

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str) -> str:
        problem = _cron_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            msg = f"unknown IANA time zone {value!r}"
            raise ValueError(msg) from None
        return value

    @field_validator("start", "end", mode="before")
    @classmethod
    def _instant_as_text(cls, value: object) -> object:
        # Lax mode (which web frameworks ask for) reads a number as a Unix time: only RFC 3339.
        if value is not None and not isinstance(value, str | datetime):
            msg = "must be an RFC 3339 instant with a time zone"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> "ScheduleSpec":
        if self.start is not None and self.end is not None and self.end <= self.start:
            msg = "end must be later than start"
            raise ValueError(msg)
        return self

    @property
    def _fields(self) -> list[str]:
        return _expanded(self.cron).split()

    @property
    def hour_is_fixed(self) -> bool:
        """Whether the hour field names hours (fires once on fall-back) or steps through them."""
        fields = self._fields
        hour = fields[2] if len(fields) == 6 else fields[1]
        return not hour.startswith("*")

    def ticks_after(self, after: datetime) -> Iterator[datetime]:
        """The UTC instants after `after`, in order, within [start, end); endless otherwise."""
        zone = ZoneInfo(self.timezone)
        base = after if self.start is None or after >= self.start else self.start - _EPSILON
        fields = self._fields
        cron = croniter(
            " ".join(fields), base.astimezone(zone), second_at_beginning=len(fields) == 6
        )
        fixed, last = self.hour_is_fixed, after
        while True:
            try:
                local: datetime = cron.get_next(datetime)
            except CroniterBadDateError:
                return
            tick = local.astimezone(UTC)
            if self.end is not None and tick >= self.end:
                return
            if tick <= last or (fixed and _is_second_pass(local, zone)):
                continue
            last = tick
            yield tick

    def ticks_between(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """Up to `limit` ticks in (after, until], oldest first."""
        ticks: list[datetime] = []
        for tick in self.ticks_after(after):
            if tick > until or len(ticks) >= limit:
                break
            ticks.append(tick)
        return ticks

    def next_tick(self, after: datetime) -> datetime | None:
        """The first tick after `after`; None once the schedule has ended."""
        return next(self.ticks_after(after), None)

    def delay(self, tenant: str, workflow: str, tick: datetime) -> timedelta:
        """The tick's jitter: derived from the tick itself, so every replica agrees."""
        if self.jitter_seconds == 0:
            return timedelta(0)
        key = f"{tenant}\x1f{workflow}\x1f{tick.isoformat()}".encode()
        spread = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
        return timedelta(milliseconds=spread % (self.jitter_seconds * 1000 + 1))

    def as_data(self) -> dict[str, object]:
        return self.model_dump(mode="json")


_EPSILON = timedelta(microseconds=1)


@lru_cache(maxsize=4096)
def _cron_problem(value: str) -> str | None:
    """What is wrong with a cron expression, or None; cached, as every stored spec is
    validated again each time a workflow is loaded."""
    expression = _expanded(value)
    fields = expression.split()
    if len(fields) not in (5, 6):
        return "must have 5 fields (minute first), 6 (second first) or be an @alias"
    if not croniter.is_valid(expression, second_at_beginning=len(fields) == 6):
        return f"is not a valid cron expression: {value!r}"
    try:
        probe = croniter(expression, _PROBE_BASE, second_at_beginning=len(fields) == 6)
        first = probe.get_next(datetime)
    except (CroniterBadDateError, ValueError, KeyError):
        first = None
    if first is None or first - _PROBE_BASE > _PROBE_HORIZON:
        return f"never fires: {value!r}"
    return None


def _expanded(cron: str) -> str:
    text = cron.strip()
    return _ALIASES.get(text.lower(), text)


def _is_second_pass(local: datetime, zone: ZoneInfo) -> bool:
    """Whether `local` is the later of two instants with the same wall time (fall-back)."""
    wall = local.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return first != local.astimezone(UTC)
