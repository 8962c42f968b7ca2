"""A workflow's statistics through the API client and `ledgerflow stats`, over in-memory buckets."""

from datetime import timedelta

import pytest

from tests.unit.cli_rig import ledgerflow
from tests.unit.client_rig import an_api
from tests.unit.test_http_builders import a_spec
from tests.unit.test_http_statistics import T0, MemoryStatistics, a_bucket


def test_statistics_pass_the_window_and_follow_every_page() -> None:
    model = MemoryStatistics([a_bucket(hours) for hours in range(5)])
    with an_api(statistics=model.buckets) as api, api.client() as client:
        client.create_workflow(a_spec("etl"))

        page = client.workflow_statistics(
            "etl", granularity="hour", since=T0 + timedelta(hours=1), until="2026-05-01T16:00:00Z"
        )
        every = [
            bucket["bucket_start"] for bucket in client.iter_workflow_statistics("etl", limit=2)
        ]

    assert [bucket["bucket_start"] for bucket in page["items"]] == [
        "2026-05-01T15:00:00Z",
        "2026-05-01T14:00:00Z",
        "2026-05-01T13:00:00Z",
    ]
    assert page["items"][0]["duration_ms"]["max"] == 30_000
    assert len(every) == 5


def test_stats_prints_a_row_per_bucket(capsys: pytest.CaptureFixture[str]) -> None:
    model = MemoryStatistics([a_bucket(0)])
    with an_api(statistics=model.buckets) as api:
        api.client().create_workflow(a_spec("etl"))
        outcome = ledgerflow(api, capsys, "stats", "etl", "--since", "2026-05-01")

    assert outcome.lines == [
        "BUCKET                FINISHED  SUCCEEDED  FAILED  CANCELLED  SUCCESS  P50   P95    P99"
        "    MEAN   MAX",
        "2026-05-01T12:00:00Z  3         2          1       0          66.7%    5.0s  30.0s  30.0s"
        "  11.5s  30.0s",
    ]


def test_stats_of_an_unknown_workflow_is_a_404(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api() as api:
        outcome = ledgerflow(api, capsys, "stats", "ghost")

    assert outcome.code == 1
    assert outcome.err.startswith("ledgerflow: 404 ")
