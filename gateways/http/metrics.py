"""`GET /metrics`: the schedules' tick counts and fire lateness in Prometheus' text format."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from gateways.http.openapi import problem_responses
from projections.schedules.changes import LATENESS_BOUNDS_MS
from projections.schedules.view import ScheduleRow

ScheduleTotals = Callable[[], Sequence[ScheduleRow]]
"""Every schedule's row of the schedules read model (eventually consistent with the log)."""

METRICS_MEDIA_TYPE = CONTENT_TYPE_PLAIN_0_0_4.removesuffix("; charset=utf-8")
"""Prometheus' text format 0.0.4, which every Prometheus-compatible scraper reads (Litestar
adds the charset to text types itself)."""
_LABELS = ("tenant", "workflow")
_MS_PER_S = 1000
_EXAMPLE = """\
# HELP ledgerflow_schedule_ticks_missed_total Ticks due while no scheduler ran that the \
misfire policy did not fire.
# TYPE ledgerflow_schedule_ticks_missed_total counter
ledgerflow_schedule_ticks_missed_total{tenant="default",workflow="nightly-etl"} 4.0
# HELP ledgerflow_schedule_fire_lateness_seconds Fire lateness: the engine's clock when the \
tick fired minus the tick (plus its jitter).
# TYPE ledgerflow_schedule_fire_lateness_seconds histogram
ledgerflow_schedule_fire_lateness_seconds_bucket{le="0.005",tenant="default",\
workflow="nightly-etl"} 38.0
ledgerflow_schedule_fire_lateness_seconds_bucket{le="+Inf",tenant="default",\
workflow="nightly-etl"} 40.0
ledgerflow_schedule_fire_lateness_seconds_count{tenant="default",workflow="nightly-etl"} 40.0
ledgerflow_schedule_fire_lateness_seconds_sum{tenant="default",workflow="nightly-etl"} 0.153
"""
_OK = ResponseSpec(
    data_container=str,
    media_type=METRICS_MEDIA_TYPE,
    description="The metrics, in Prometheus' text exposition format 0.0.4 (shortened here).",
    examples=[Example(summary="One schedule's missed ticks and lateness", value=_EXAMPLE)],
    generate_examples=False,
)


@dataclass(frozen=True, eq=False)  # the registry keys collectors by identity
class _ScheduleMetrics(Collector):
    """The metric families of the schedules read model's rows, one sample set per schedule."""

    rows: Sequence[ScheduleRow]

    def collect(self) -> Iterable[Metric]:
        fired = CounterMetricFamily(
            "ledgerflow_schedule_ticks_fired",
            "Ticks that started a run (fired on time, late, or released after buffering).",
            labels=_LABELS,
        )
        skipped = CounterMetricFamily(
            "ledgerflow_schedule_ticks_skipped",
            "Ticks the overlap policy skipped because the previous run was still active.",
            labels=_LABELS,
        )
        missed = CounterMetricFamily(
            "ledgerflow_schedule_ticks_missed",
            "Ticks due while no scheduler ran that the misfire policy did not fire.",
            labels=_LABELS,
        )
        lateness = HistogramMetricFamily(
            "ledgerflow_schedule_fire_lateness_seconds",
            "Fire lateness: the engine's clock when the tick fired minus the tick (plus its "
            "jitter), as recorded in each fire.",
            labels=_LABELS,
        )
        last = GaugeMetricFamily(
            "ledgerflow_schedule_last_fire_lateness_seconds",
            "The lateness of the schedule's latest fire.",
            labels=_LABELS,
        )
        for row in self.rows:
            key = [row.tenant, row.workflow]
            fired.add_metric(key, row.fired_total)
            skipped.add_metric(key, row.skipped_total)
            missed.add_metric(key, row.missed_total)
            lateness.add_metric(
                key,
                buckets=_cumulative(row.lateness_buckets),
                sum_value=_seconds(row.lateness_sum_ms),
            )
            if row.last_lateness_ms is not None:
                last.add_metric(key, _seconds(row.last_lateness_ms))
        return [fired, skipped, missed, lateness, last]


def _cumulative(counts: Sequence[int]) -> list[tuple[str, float]]:
    """Prometheus' cumulative `le` buckets from the read model's per-bucket counts."""
    bounds = [str(bound / _MS_PER_S) for bound in LATENESS_BOUNDS_MS] + ["+Inf"]
    total, buckets = 0, []
    for bound, count in zip(bounds, counts, strict=True):
        total += count
        buckets.append((bound, float(total)))
    return buckets


def _seconds(milliseconds: int) -> float:
    return milliseconds / _MS_PER_S


def exposition(rows: Sequence[ScheduleRow]) -> bytes:
    """The text a scrape returns for `rows`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ScheduleMetrics(rows))
    return generate_latest(registry)


class MetricsController(Controller):
    """Operational metrics for Prometheus, read from the read models: the same on every API
    replica and after a restart (no process-local counters)."""

    path = "/metrics"
    tags = ["health"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        sync_to_thread=True,
        summary="Metrics for Prometheus",
        description="Per schedule (`tenant`, `workflow` labels): ticks fired, skipped (overlap) "
        "and missed (misfire) as counters, and the recorded fire lateness as a histogram and "
        "its latest value. Read from the schedules projection of the event log, so a tick "
        "decided a moment ago may not count yet.",
        media_type=METRICS_MEDIA_TYPE,
        responses={200: _OK, **problem_responses()},
    )
    def metrics(self, schedule_totals: NamedDependency[ScheduleTotals]) -> Response[bytes]:
        return Response(exposition(schedule_totals()), media_type=METRICS_MEDIA_TYPE)
