"""Percentiles of run durations estimated from the statistics read model's fixed histogram."""

import pytest

from projections.statistics.histogram import DURATION_BOUNDS_MS, SLOTS, percentile

DAY_MS = 86_400_000


def a_histogram(**counts: int) -> list[int]:
    """Counts by slot bound (`ms_5000=3`: three runs in the slot up to 5000 ms; `over=1`)."""
    histogram = [0] * SLOTS
    for key, count in counts.items():
        slot = len(DURATION_BOUNDS_MS) if key == "over" else DURATION_BOUNDS_MS.index(int(key[3:]))
        histogram[slot] = count
    return histogram


def test_the_bounds_are_log_spaced_from_one_millisecond_to_one_day() -> None:
    assert DURATION_BOUNDS_MS[:7] == (1, 2, 5, 10, 20, 50, 100)
    assert DURATION_BOUNDS_MS[-1] == DAY_MS
    assert list(DURATION_BOUNDS_MS) == sorted(set(DURATION_BOUNDS_MS))
    assert len(DURATION_BOUNDS_MS) + 1 == SLOTS


def test_a_percentile_is_the_bound_of_the_slot_its_rank_falls_in() -> None:
    histogram = a_histogram(ms_1000=50, ms_5000=45, ms_20000=4, ms_50000=1)

    estimates = [percentile(histogram, p, longest_ms=41_000) for p in (50, 95, 99, 100)]

    assert estimates == [1000, 5000, 20_000, 41_000]


def test_the_rank_is_rounded_up_so_one_slow_run_in_twenty_is_the_p99() -> None:
    histogram = a_histogram(ms_100=19, ms_2000=1)

    assert percentile(histogram, 95, longest_ms=1500) == 100
    assert percentile(histogram, 99, longest_ms=1500) == 1500


def test_an_estimate_never_exceeds_the_longest_run() -> None:
    histogram = a_histogram(ms_5000=3)

    assert percentile(histogram, 50, longest_ms=3200) == 3200


def test_runs_longer_than_a_day_are_estimated_by_the_longest() -> None:
    histogram = a_histogram(ms_1000=1, over=1)

    assert percentile(histogram, 99, longest_ms=2 * DAY_MS) == 2 * DAY_MS


def test_an_empty_histogram_has_no_percentile() -> None:
    assert percentile([0] * SLOTS, 50, longest_ms=0) is None


@pytest.mark.parametrize("percent", [1, 50, 100])
def test_a_single_run_is_every_percentile(percent: int) -> None:
    assert percentile(a_histogram(ms_50=1), percent, longest_ms=37) == 37
