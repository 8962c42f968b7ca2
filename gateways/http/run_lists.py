"""Lists of runs: a tenant's runs with filters, newest first, and every attempt of one run."""

from collections.abc import Callable, Sequence
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from aggregates.names import IDENTIFIER_PATTERN
from aggregates.run import RunStatus
from engine.application import Ledgerflow
from gateways.http.openapi import problem_responses
from gateways.http.pages import (
    DEFAULT_PAGE_SIZE,
    PageCursor,
    PageSize,
    instant_parameter,
    invalid_query,
    query_instant,
    run_position,
)
from gateways.http.paths import RunId
from gateways.http.run_list_views import AttemptPage, RunPage
from projections.attempts_view import AttemptRow
from projections.runs.view import RunQuery, RunRow

RunListing = Callable[[str, RunQuery], Sequence[RunRow]]
"""Lists a tenant's runs from the runs read model (eventually consistent with the log)."""

TaskAttempts = Callable[[UUID], Sequence[AttemptRow]]
"""Every attempt of one run, from the attempts read model (eventually consistent)."""

MAX_FILTER_VALUES = 50

_NAME = Annotated[str, msgspec.Meta(pattern=IDENTIFIER_PATTERN)]

Workflows = Annotated[
    list[_NAME] | None,
    QueryParameter(
        max_items=MAX_FILTER_VALUES,
        description="Only runs of these workflows, by name (repeat the parameter for several).",
        examples=[Example(summary="One workflow", value=["nightly-etl"])],
    ),
]
Statuses = Annotated[
    list[RunStatus] | None,
    QueryParameter(
        max_items=MAX_FILTER_VALUES,
        description="Only runs in these states: queued, running, succeeded, failed, cancelled "
        "(repeat the parameter for several).",
        examples=[Example(summary="Unsuccessful runs", value=["failed", "cancelled"])],
    ),
]
Triggers = Annotated[
    list[_NAME] | None,
    QueryParameter(
        max_items=MAX_FILTER_VALUES,
        description="Only runs started this way: `api`, `adhoc` or `retry` (repeat for several).",
        examples=[Example(summary="Retries", value=["retry"])],
    ),
]
CreatedAfter = Annotated[
    str | None,
    instant_parameter(
        "Only runs created at or after this RFC 3339 instant (with a time zone).",
        "Since a UTC instant",
        "2026-05-01T00:00:00Z",
    ),
]
CreatedBefore = Annotated[
    str | None,
    instant_parameter(
        "Only runs created before this RFC 3339 instant (with a time zone).",
        "Before a local instant",
        "2026-05-02T00:00:00+02:00",
    ),
]


class RunListController(Controller):
    """Runs listed from the runs read model; one run's attempts from the attempts read model."""

    path = "/v1/runs"
    tags = ["runs"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        sync_to_thread=True,
        summary="List runs",
        description="The tenant's runs, newest first, filtered by workflow, status, trigger "
        "and creation time (`created_after` <= created_at < `created_before`). Follow "
        "`next_cursor` for the next page. Read from a projection of the event log, so a run "
        "started or changed a moment ago may not show yet (`GET /v1/runs/{run_id}` reads the "
        "run itself).",
        responses=problem_responses(),
    )
    def list_runs(
        self,
        *,
        tenant: NamedDependency[str],
        run_listing: NamedDependency[RunListing],
        workflow: Workflows = None,
        status: Statuses = None,
        trigger: Triggers = None,
        created_after: CreatedAfter = None,
        created_before: CreatedBefore = None,
        cursor: PageCursor = None,
        limit: PageSize = DEFAULT_PAGE_SIZE,
    ) -> RunPage:
        after = query_instant("created_after", created_after)
        before = query_instant("created_before", created_before)
        if after is not None and before is not None and before <= after:
            raise invalid_query("created_before", "must be later than created_after")
        query = RunQuery(
            workflows=_distinct(workflow),
            statuses=_distinct([s.value for s in status or ()]),
            triggers=_distinct(trigger),
            created_after=after,
            created_before=before,
            after=None if cursor is None else run_position(cursor),
            limit=limit + 1,  # one more than a page tells whether another page follows
        )
        return RunPage.of(list(run_listing(tenant, query)), limit)

    @get(
        "/{run_id:str}/tasks",
        sync_to_thread=True,
        summary="List the attempts of a run's tasks",
        description="Every attempt of every task of the run, in definition order, with its "
        "timings, worker, exit code and error; the latest outcome of each task also carries "
        "its stdout/stderr tails and output, read from the run itself. Attempts come from a "
        "projection of the event log and may lag it by a moment.",
        responses=problem_responses(404),
    )
    def list_attempts(
        self,
        *,
        run_id: RunId,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        task_attempts: NamedDependency[TaskAttempts],
    ) -> AttemptPage:
        run = engine.get_run(tenant, run_id)  # another tenant's run is not found either
        rows = [row for row in task_attempts(run_id) if row.tenant == tenant]
        return AttemptPage.of(run, rows)


def _distinct(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values or ()))
