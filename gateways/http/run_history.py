"""A run's past over HTTP: its events page by page, and the same history told as a timeline."""

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from engine.application import Ledgerflow
from gateways.http.history import (
    DEFAULT_PAGE_SIZE,
    After,
    Cursor,
    HistoryPage,
    Limit,
    Types,
    after_version,
    known_types,
)
from gateways.http.openapi import problem_responses
from gateways.http.paths import RunId
from gateways.http.timeline_views import TimelineView


class RunHistoryController(Controller):
    """A run's event-sourced history: the recorded events, and what they mean."""

    path = "/v1/runs/{run_id:str}"
    tags = ["runs"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/events",
        sync_to_thread=True,
        summary="Page through a run's history",
        description="The run's events, oldest first, each with its flat `type`, the run "
        "`version` it made, its global log `position`, `timestamp`, `tenant`, `actor`, "
        "`correlation_id` and `data`. Filter with `type` (repeatable; flat names). Follow "
        "`next_cursor` (or pass `after`, a run version) for the next page.",
        responses=problem_responses(404),
    )
    def history(
        self,
        *,
        run_id: RunId,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        after: After = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        types: Types = None,
    ) -> Response[HistoryPage]:
        start = after_version(after, cursor)
        wanted = known_types(types)
        # One more than a page tells whether another page follows.
        entries = engine.run_history(
            tenant, run_id, after_version=start, limit=limit + 1, types=wanted
        )
        # A `HistoryPage` (the documented schema) encoded from plain values, without a
        # pydantic view per event: see `HistoryPage.body_of`. `Any`, as the content is the
        # page's JSON values rather than the model the annotation documents.
        body: Any = HistoryPage.body_of(entries, limit)
        return Response(body)

    @get(
        "/timeline",
        sync_to_thread=True,
        summary="Explain a run's history",
        description="The run's whole history told as steps in words: what happened, when and "
        "why (`load skipped because transform failed after 3 attempts`, `extract: retry 2 "
        "scheduled for 12:00:05 (backoff 4 s) because ...`), with the time since the step "
        "before and since the start; and per task, its attempts and the time it spent "
        "waiting (queued or backing off) and running. Not paged.",
        responses=problem_responses(404),
    )
    def timeline(
        self, *, run_id: RunId, engine: NamedDependency[Ledgerflow], tenant: NamedDependency[str]
    ) -> TimelineView:
        return TimelineView.of(engine.run_timeline(tenant, run_id))
