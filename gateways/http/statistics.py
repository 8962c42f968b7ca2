"""A workflow's statistics: its finished runs per UTC hour or day, newest bucket first."""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import QueryParameter
from pydantic import BaseModel, ConfigDict, Field

from engine.application import Ledgerflow
from gateways.http.openapi import problem_responses
from gateways.http.pages import (
    DEFAULT_PAGE_SIZE,
    PageSize,
    bucket_before,
    bucket_cursor,
    cursor_parameter,
    instant_parameter,
    invalid_query,
    query_instant,
)
from gateways.http.paths import WorkflowName
from projections.statistics.view import BucketRow, Granularity, StatisticsQuery

StatisticsListing = Callable[[str, str, StatisticsQuery], Sequence[BucketRow]]
"""Lists a tenant's workflow's buckets from the statistics read model (eventually consistent)."""

_CURSOR_EXAMPLE = "YjEABlDBKJSUABJd3NKiLg"  # bucket_cursor(2026-05-01T13:00:00Z)

StatisticsCursor = Annotated[str | None, cursor_parameter(_CURSOR_EXAMPLE)]

GranularityParameter = Annotated[
    Granularity,
    QueryParameter(
        description="The bucket length: `hour` (the default) or `day`, in UTC.",
        examples=[Example(summary="Daily buckets", value="day")],
    ),
]
Since = Annotated[
    str | None,
    instant_parameter(
        "Only buckets that start at or after this RFC 3339 instant (with a time zone).",
        "Since a UTC instant",
        "2026-05-01T00:00:00Z",
    ),
]
Until = Annotated[
    str | None,
    instant_parameter(
        "Only buckets that start before this RFC 3339 instant (with a time zone).",
        "Before a local instant",
        "2026-05-08T00:00:00+02:00",
    ),
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class DurationStatistics(_View):
    """Run durations in milliseconds, from `created_at` to the run's end (queueing included).

    Percentiles are estimated from a fixed histogram: each is the upper bound of the slot it
    falls in (bounds 1, 2, 5, 10, 20, 50... ms up to one day), or the longest run if shorter.
    `mean` and `max` are exact.
    """

    p50: Annotated[int, Field(examples=[5000])]
    p95: Annotated[int, Field(examples=[20000])]
    p99: Annotated[int, Field(examples=[50000])]
    mean: Annotated[int, Field(examples=[6120])]
    max: Annotated[int, Field(examples=[41877])]


class StatisticsBucket(_View):
    """The runs of the workflow that finished in one bucket (only buckets with runs are listed)."""

    bucket_start: Annotated[datetime, Field(examples=["2026-05-01T13:00:00Z"])]
    granularity: Granularity
    finished: Annotated[int, Field(description="Runs that ended in the bucket.", examples=[40])]
    succeeded: Annotated[int, Field(examples=[37])]
    failed: Annotated[int, Field(examples=[2])]
    cancelled: Annotated[int, Field(examples=[1])]
    success_rate: Annotated[
        float, Field(description="`succeeded` / `finished`, from 0 to 1.", examples=[0.925])
    ]
    duration_ms: DurationStatistics

    @classmethod
    def of(cls, row: BucketRow) -> "StatisticsBucket":
        return cls(
            bucket_start=row.bucket_start,
            granularity=row.granularity,
            finished=row.finished,
            succeeded=row.succeeded,
            failed=row.failed,
            cancelled=row.cancelled,
            success_rate=row.success_rate,
            duration_ms=DurationStatistics(
                p50=row.percentile_ms(50),
                p95=row.percentile_ms(95),
                p99=row.percentile_ms(99),
                mean=row.mean_ms,
                max=row.duration_max_ms,
            ),
        )


class StatisticsPage(_View):
    """A page of buckets, newest first; `next_cursor` is null on the last page."""

    items: list[StatisticsBucket]
    next_cursor: Annotated[str | None, Field(examples=[_CURSOR_EXAMPLE])]

    @classmethod
    def of(cls, rows: Sequence[BucketRow], limit: int) -> "StatisticsPage":
        """The first `limit` rows; one more than `limit` means another page follows."""
        page = rows[:limit]
        more = len(rows) > limit
        return cls(
            items=[StatisticsBucket.of(row) for row in page],
            next_cursor=bucket_cursor(page[-1].bucket_start) if more and page else None,
        )


class StatisticsController(Controller):
    """Per-workflow statistics from the statistics read model."""

    path = "/v1/workflows/{name:str}/statistics"
    tags = ["workflows"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        sync_to_thread=True,
        summary="Read a workflow's run statistics",
        description="The workflow's finished runs per UTC hour or day (by the time each run "
        "ended), newest bucket first: counts by outcome, success rate and durations (exact "
        "mean and max; p50, p95 and p99 estimated from a histogram, see `duration_ms`). Only "
        "buckets in which a run ended are listed; `since` <= bucket start < `until`. Follow "
        "`next_cursor` for the next page. Read from a projection of the event log, so a run "
        "that ended a moment ago may not count yet.",
        responses=problem_responses(404),
    )
    def statistics(
        self,
        *,
        name: WorkflowName,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        workflow_statistics: NamedDependency[StatisticsListing],
        granularity: GranularityParameter = Granularity.HOUR,
        since: Since = None,
        until: Until = None,
        cursor: StatisticsCursor = None,
        limit: PageSize = DEFAULT_PAGE_SIZE,
    ) -> StatisticsPage:
        start = query_instant("since", since)
        end = query_instant("until", until)
        if start is not None and end is not None and end <= start:
            raise invalid_query("until", "must be later than since")
        before = None if cursor is None else bucket_before(cursor)
        engine.get_workflow(tenant, name)  # an unknown workflow (for this tenant) is a 404
        query = StatisticsQuery(
            granularity=granularity,
            since=start,
            until=end,
            before=before,
            limit=limit + 1,  # one more than a page tells whether another page follows
        )
        return StatisticsPage.of(workflow_statistics(tenant, name, query), limit)
