"""A workflow's statistics over HTTP, from an in-memory statistics read model."""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections.statistics.histogram import DURATION_BOUNDS_MS, SLOTS
from projections.statistics.view import BucketRow, Granularity, StatisticsQuery
from tests.unit.test_http_builders import (
    PROBLEM_JSON,
    Client,
    a_client,
    a_registered_workflow,
    a_started_run,
    locs,
    problem,
)
from tests.unit.test_http_lists import a_tampered, a_valid_cursor

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PATH = "/v1/workflows/etl/statistics"
PATH_TEMPLATE = "/v1/workflows/{name}/statistics"


def a_histogram(*durations_ms: int) -> tuple[int, ...]:
    counts = [0] * SLOTS
    for duration in durations_ms:
        counts[sum(1 for bound in DURATION_BOUNDS_MS if duration > bound)] += 1
    return tuple(counts)


def a_bucket(hours: int, **fields: Any) -> BucketRow:
    """The hour bucket `hours` after T0 of `etl`: three runs, two succeeded, one failed."""
    row = BucketRow(
        tenant="default",
        workflow="etl",
        granularity=Granularity.HOUR,
        bucket_start=T0 + timedelta(hours=hours),
        finished=3,
        succeeded=2,
        failed=1,
        cancelled=0,
        duration_sum_ms=1500 + 3000 + 30_000,
        duration_max_ms=30_000,
        histogram=a_histogram(1500, 3000, 30_000),
    )
    return replace(row, **fields)


@dataclass
class MemoryStatistics:
    """The statistics view's query over rows in memory, with the PostgreSQL view's meaning."""

    rows: list[BucketRow] = field(default_factory=list)
    asked: list[tuple[str, str, StatisticsQuery]] = field(default_factory=list)

    def buckets(self, tenant: str, workflow: str, query: StatisticsQuery) -> list[BucketRow]:
        self.asked.append((tenant, workflow, query))
        rows = [
            row
            for row in self.rows
            if (row.tenant, row.workflow, row.granularity) == (tenant, workflow, query.granularity)
            and (query.since is None or row.bucket_start >= query.since)
            and (query.until is None or row.bucket_start < query.until)
            and (query.before is None or row.bucket_start < query.before)
        ]
        return sorted(rows, key=lambda row: row.bucket_start, reverse=True)[: query.limit]


def fetched(client: Client, **params: Any) -> dict[str, Any]:
    response = client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def starts(page: dict[str, Any]) -> list[str]:
    return [item["bucket_start"] for item in page["items"]]


def test_a_workflows_buckets_are_listed_newest_first_with_counts_rate_and_durations() -> None:
    model = MemoryStatistics([a_bucket(0), a_bucket(2), a_bucket(1, workflow="other")])
    with a_client(statistics=model.buckets) as client:
        a_registered_workflow(client, "etl")

        page = fetched(client)

        assert starts(page) == ["2026-05-01T14:00:00Z", "2026-05-01T12:00:00Z"]
        assert page["next_cursor"] is None
        assert page["items"][0] == {
            "bucket_start": "2026-05-01T14:00:00Z",
            "granularity": "hour",
            "finished": 3,
            "succeeded": 2,
            "failed": 1,
            "cancelled": 0,
            "success_rate": pytest.approx(2 / 3),
            "duration_ms": {
                "p50": 5000,
                "p95": 30_000,
                "p99": 30_000,
                "mean": 11_500,
                "max": 30_000,
            },
        }


def test_the_read_model_is_asked_for_the_tenants_workflow_at_the_granularity() -> None:
    model = MemoryStatistics([a_bucket(0, granularity=Granularity.DAY)])
    with a_client(statistics=model.buckets) as client:
        a_registered_workflow(client, "etl")

        page = fetched(client, granularity="day")

        assert [item["granularity"] for item in page["items"]] == ["day"]
        ((tenant, workflow, query),) = model.asked
        assert (tenant, workflow, query.granularity) == ("default", "etl", Granularity.DAY)
        assert query.limit == 51  # a page of 50, and one to tell whether another follows


def test_buckets_are_hourly_by_default() -> None:
    model = MemoryStatistics([a_bucket(0), a_bucket(0, granularity=Granularity.DAY)])
    with a_client(statistics=model.buckets) as client:
        a_registered_workflow(client, "etl")

        page = fetched(client)

        assert [item["granularity"] for item in page["items"]] == ["hour"]


def test_the_window_takes_rfc_3339_instants_in_any_time_zone() -> None:
    model = MemoryStatistics([a_bucket(hours) for hours in range(5)])
    with a_client(statistics=model.buckets) as client:
        a_registered_workflow(client, "etl")

        page = fetched(client, since="2026-05-01T15:00:00+02:00", until="2026-05-01T15:00:00Z")

        assert starts(page) == [
            "2026-05-01T14:00:00Z",
            "2026-05-01T13:00:00Z",
        ]  # from 13:00 UTC (included) to 15:00 UTC (excluded)
        query = model.asked[-1][2]
        assert (query.since, query.until) == (T0 + timedelta(hours=1), T0 + timedelta(hours=3))


def test_three_pages_of_two_list_every_bucket_once() -> None:
    model = MemoryStatistics([a_bucket(hours) for hours in range(5)])
    with a_client(statistics=model.buckets) as client:
        a_registered_workflow(client, "etl")

        first = fetched(client, limit=2)
        second = fetched(client, limit=2, cursor=first["next_cursor"])
        third = fetched(client, limit=2, cursor=second["next_cursor"])

        hours = [[int(start[11:13]) - 12 for start in starts(p)] for p in (first, second, third)]
        assert hours == [[4, 3], [2, 1], [0]]
        assert (bool(first["next_cursor"]), third["next_cursor"]) == (True, None)


def test_a_workflow_without_finished_runs_has_no_buckets() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        assert fetched(client) == {"items": [], "next_cursor": None}


def test_an_unknown_workflow_is_a_404() -> None:
    model = MemoryStatistics([a_bucket(0)])
    with a_client(statistics=model.buckets) as client:
        response = client.get(PATH)

        assert problem(response, 404)["type"].endswith("/workflow-not-found")


def a_statistics_cursor() -> str:
    model = MemoryStatistics([a_bucket(0), a_bucket(1)])
    with a_client(statistics=model.buckets) as client:
        a_registered_workflow(client, "etl")
        cursor: str = fetched(client, limit=1)["next_cursor"]
        return cursor


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("granularity=week", "granularity"),
        ("granularity=", "granularity"),
        ("granularity=HOUR", "granularity"),
        ("since=2026-05-01T12:00:00", "since"),
        ("since=yesterday", "since"),
        ("until=2026-02-30T00:00:00Z", "until"),
        ("until=1777636800", "until"),
        ("since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z", "until"),
        ("since=2026-05-01T00:00:00Z&until=2026-05-01T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("cursor=not-a-cursor!", "cursor"),
        ("cursor=AAAA", "cursor"),
        (f"cursor={'A' * 200}", "cursor"),
        (f"cursor={a_tampered(a_statistics_cursor())}", "cursor"),
        (f"cursor={a_valid_cursor()}", "cursor"),  # a cursor of the runs list
    ],
    ids=lambda value: value[:40],
)
def test_bad_parameters_are_a_422_naming_the_parameter(query: str, loc: str) -> None:
    model = MemoryStatistics([a_bucket(0)])
    with a_client(statistics=model.buckets) as client:
        a_registered_workflow(client, "etl")

        response = client.get(f"{PATH}?{query}")

        assert locs(problem(response, 422)) == [loc]
        assert model.asked == []


def test_a_bad_workflow_name_is_a_422() -> None:
    with a_client() as client:
        response = client.get("/v1/workflows/no%20spaces/statistics")

        assert problem(response, 422)["status"] == 422


def test_the_route_lives_beside_the_workflows_and_their_runs() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        run = a_started_run(client, "etl")

        assert client.get("/v1/workflows/etl").status_code == 200
        assert client.get("/v1/workflows").status_code == 200
        assert client.get(PATH).status_code == 200
        assert client.post(PATH).status_code == 405
        assert run["workflow"] == "etl"


def test_the_schema_documents_the_parameters_responses_and_examples() -> None:
    with a_client() as client:
        schema = client.get("/schema/openapi.json").json()

        operation = schema["paths"][PATH_TEMPLATE]["get"]
        parameters = {p["name"]: p for p in operation["parameters"]}
        assert {"name", "granularity", "since", "until", "cursor", "limit"} <= set(parameters)
        assert all(parameters[name].get("examples") for name in ("granularity", "since", "until"))
        assert {"200", "400", "404", "422", "500", "503"} <= set(operation["responses"])
        assert set(operation["responses"]["404"]["content"]) == {PROBLEM_JSON}
        bucket = schema["components"]["schemas"]["StatisticsBucket"]["properties"]
        assert bucket["success_rate"]["examples"] == [0.925]


def test_the_documented_parameter_examples_are_accepted() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        operation = client.get("/schema/openapi.json").json()["paths"][PATH_TEMPLATE]["get"]
        examples = {
            p["name"]: next(iter(p["examples"].values()))["value"]
            for p in operation["parameters"]
            if p["in"] == "query"
        }

        response = client.get(PATH, params=examples)

        assert set(examples) == {"granularity", "since", "until", "cursor", "limit"}
        assert response.status_code == 200, response.text
