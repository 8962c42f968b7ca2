"""`GET /metrics`: the schedules read model's rows as Prometheus text."""

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

from prometheus_client.parser import text_string_to_metric_families

from aggregates.schedule import ScheduleSpec
from projections.schedules.changes import LATENESS_BOUNDS_MS
from projections.schedules.view import ScheduleRow
from tests.schedule_builders import MIDNIGHT
from tests.unit.test_http_builders import a_client

NO_FIRES = (0,) * (len(LATENESS_BOUNDS_MS) + 1)


def a_schedule_row(workflow: str = "nightly", **fields: object) -> ScheduleRow:
    row = ScheduleRow(
        workflow_id=uuid4(), tenant="acme", workflow=workflow, version=1,
        schedule=ScheduleSpec.model_validate({"cron": "* * * * *"}), paused=False,
        retired=False, effective_from=MIDNIGHT, decided_until=MIDNIGHT + timedelta(hours=1),
        last_fired_tick=None, last_run_id=None, last_run_active=False, buffered_tick=None,
        fired_total=0, skipped_total=0, missed_total=0, lateness_count=0, lateness_sum_ms=0,
        lateness_buckets=NO_FIRES, last_lateness_ms=None,
    )  # fmt: skip
    return replace(row, **fields)  # type: ignore[arg-type]  # fields are the row's own


def scraped(*rows: ScheduleRow) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with a_client(schedule_totals=lambda: list(rows)) as client:
        text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labels(workflow: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"tenant": "acme", "workflow": workflow, **extra}.items()))


def test_each_schedule_has_its_fired_skipped_and_missed_counters() -> None:
    rows = [
        a_schedule_row("nightly", fired_total=7, skipped_total=2, missed_total=3),
        a_schedule_row("hourly", paused=True, missed_total=1),
    ]

    samples = scraped(*rows)

    assert samples["ledgerflow_schedule_ticks_fired_total", labels("nightly")] == 7
    assert samples["ledgerflow_schedule_ticks_skipped_total", labels("nightly")] == 2
    assert samples["ledgerflow_schedule_ticks_missed_total", labels("nightly")] == 3
    assert samples["ledgerflow_schedule_ticks_missed_total", labels("hourly")] == 1


def test_the_lateness_histogram_counts_each_bucket_and_all_below_it() -> None:
    buckets = (2, 1, *NO_FIRES[2:-1], 1)  # two within 5 ms, one within 10 ms, one over 60 s
    row = a_schedule_row(
        lateness_count=4, lateness_sum_ms=61_012, lateness_buckets=buckets, last_lateness_ms=7
    )

    samples = scraped(row)

    name = "ledgerflow_schedule_fire_lateness_seconds"
    assert samples[f"{name}_bucket", labels("nightly", le="0.005")] == 2
    assert samples[f"{name}_bucket", labels("nightly", le="0.01")] == 3
    assert samples[f"{name}_bucket", labels("nightly", le="60.0")] == 3
    assert samples[f"{name}_bucket", labels("nightly", le="+Inf")] == 4
    assert samples[f"{name}_count", labels("nightly")] == 4
    assert samples[f"{name}_sum", labels("nightly")] == 61.012
    assert samples["ledgerflow_schedule_last_fire_lateness_seconds", labels("nightly")] == 0.007


def test_without_schedules_the_metrics_are_declared_with_no_samples() -> None:
    with a_client() as client:
        response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE ledgerflow_schedule_ticks_missed_total counter" in response.text
