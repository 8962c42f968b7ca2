"""The fixed histogram of run durations, and the percentiles estimated from it.

Slot 0 counts the runs that took at most `DURATION_BOUNDS_MS[0]` ms, slot i those that took
more than bound i-1 and at most bound i, and the last slot those longer than the last bound
(one day). A percentile is estimated as the bound of the slot it falls in, or the longest run
if that is shorter: an upper estimate whose resolution is the spacing of the bounds (1-2-5
per decade, so within 2.5x of the true value).
"""

from collections.abc import Sequence

DURATION_BOUNDS_MS: tuple[int, ...] = (
    *(step * 10**power for power in range(8) for step in (1, 2, 5)),
    86_400_000,  # one day
)
"""Upper bounds of the slots in milliseconds, log-spaced from 1 ms to one day."""

SLOTS = len(DURATION_BOUNDS_MS) + 1
"""Slots in a histogram: one per bound, plus one for runs longer than a day."""


def percentile(histogram: Sequence[int], percent: int, longest_ms: int) -> int | None:
    """The estimated duration at or under which `percent` (1-100) of the runs finished.

    The nearest-rank percentile's slot bound, capped at `longest_ms` (the longest run counted,
    which also stands for the unbounded last slot); None for an empty histogram.
    """
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, -(-percent * total // 100))  # ceil, in integers
    seen = 0
    for slot, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            bound = DURATION_BOUNDS_MS[slot] if slot < len(DURATION_BOUNDS_MS) else longest_ms
            return min(bound, longest_ms)
    return longest_ms
