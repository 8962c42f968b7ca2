"""The list of workflows: a tenant's workflows by name, each with its latest run.

`GET /v1/workflows` is a route handler, not a second controller: Litestar refuses two
controllers on one path (the workflows controller serves `POST /v1/workflows`), so the app
registers this handler beside that controller in one router.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from pydantic import BaseModel, ConfigDict, Field

from aggregates.run import RunStatus
from gateways.http.openapi import problem_responses
from gateways.http.pages import (
    DEFAULT_PAGE_SIZE,
    PageSize,
    WorkflowCursor,
    name_after,
    name_cursor,
)
from gateways.http.paths import workflow_path
from projections.runs.view import WorkflowQuery, WorkflowRow

WorkflowListing = Callable[[str, WorkflowQuery], Sequence[WorkflowRow]]
"""Lists a tenant's workflows from the runs read model (eventually consistent with the log)."""

_RUN_ID = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class LastRun(_View):
    """The workflow's most recently started run."""

    id: Annotated[str, Field(examples=[_RUN_ID])]
    status: RunStatus
    at: Annotated[datetime, Field(description="When that run was started.")]


class WorkflowLinks(_View):
    self: Annotated[str, Field(examples=["/v1/workflows/nightly-etl"])]


class WorkflowSummary(_View):
    """One workflow as the list shows it; `GET` its `links.self` for its definition."""

    name: Annotated[str, Field(examples=["nightly-etl"])]
    current_version: Annotated[int, Field(examples=[2])]
    description: Annotated[str, Field(examples=["Copy yesterday's orders into the warehouse."])]
    created_at: Annotated[datetime, Field(description="When version 1 was registered.")]
    updated_at: Annotated[datetime, Field(description="When the latest version was recorded.")]
    last_run: Annotated[LastRun | None, Field(description="Null until a run is started.")]
    run_count: Annotated[int, Field(description="Runs started, retries included.", examples=[42])]
    retired: Annotated[
        bool, Field(description="Listed only with `include_retired=true`.", examples=[False])
    ]
    retired_at: Annotated[
        datetime | None, Field(description="When it was retired; null unless `retired`.")
    ]
    links: WorkflowLinks

    @classmethod
    def of(cls, row: WorkflowRow) -> "WorkflowSummary":
        last_run = None
        if row.last_run_id and row.last_run_status and row.last_run_at:
            last_run = LastRun(
                id=str(row.last_run_id),
                status=RunStatus(row.last_run_status),
                at=row.last_run_at,
            )
        return cls(
            name=row.name,
            current_version=row.current_version,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_run=last_run,
            run_count=row.run_count,
            retired=row.retired_at is not None,
            retired_at=row.retired_at,
            links=WorkflowLinks(self=workflow_path(row.name)),
        )


class WorkflowPage(_View):
    """A page of workflows by name; `next_cursor` is null on the last page."""

    items: list[WorkflowSummary]
    next_cursor: Annotated[str | None, Field(examples=["dzFuaWdodGx5LWV0bCmM9SPqWw"])]

    @classmethod
    def of(cls, rows: Sequence[WorkflowRow], limit: int) -> "WorkflowPage":
        """The first `limit` rows; one more than `limit` means another page follows."""
        page = rows[:limit]
        more = len(rows) > limit
        return cls(
            items=[WorkflowSummary.of(row) for row in page],
            next_cursor=name_cursor(page[-1].name) if more and page else None,
        )


@get(
    "/v1/workflows",
    sync_to_thread=True,
    tags=["workflows"],
    summary="List workflows",
    description="The tenant's workflows by name, each with its current version, its latest "
    "run and how many runs it has had. Follow `next_cursor` for the next page. Read from a "
    "projection of the event log, so a change made a moment ago may not show yet "
    "(`GET /v1/workflows/{name}` reads the workflow itself). Retired workflows are left out "
    "unless `include_retired=true`.",
    responses=problem_responses(),
)
def list_workflows(
    *,
    tenant: NamedDependency[str],
    workflow_listing: NamedDependency[WorkflowListing],
    cursor: WorkflowCursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    include_retired: Annotated[
        bool, QueryParameter(description="Also list retired workflows (`true` or `false`).")
    ] = False,
) -> WorkflowPage:
    after = None if cursor is None else name_after(cursor)
    query = WorkflowQuery(after=after, limit=limit + 1, include_retired=include_retired)
    return WorkflowPage.of(workflow_listing(tenant, query), limit)
