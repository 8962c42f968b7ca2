"""The audit log over HTTP: who did what and when, across the tenant's runs, workflows and
workers, read from the event log."""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import QueryParameter
from pydantic import BaseModel, ConfigDict, Field

from engine.application import Ledgerflow
from engine.audit import AuditQuery
from engine.event_types import ALL_EVENTS
from engine.history import HistoryEntry
from gateways.http.history import TraceId
from gateways.http.openapi import problem_responses
from gateways.http.pages import (
    DEFAULT_PAGE_SIZE,
    PageSize,
    audit_after,
    audit_cursor,
    cursor_parameter,
    instant_parameter,
    invalid_query,
    query_instant,
)

MAX_TYPES = 50
_AUDIT_CURSOR_EXAMPLE = "YTEAAAAAAAAAMvmozcb_nQ"  # audit_cursor(50)


Actor = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]*$",
        description="Only what this actor did (`anonymous`, `worker:w1`, `engine:timers`...).",
        examples=[Example(summary="A worker", value="worker:w1")],
    ),
]
Since = Annotated[
    str | None,
    instant_parameter(
        "Only events at or after this instant.", "A UTC instant", "2026-05-01T00:00:00Z"
    ),
]
Until = Annotated[
    str | None,
    instant_parameter(
        "Only events before this instant.", "A local instant", "2026-05-02T00:00:00+02:00"
    ),
]
Types = Annotated[
    list[str] | None,
    QueryParameter(
        name="type",
        max_items=MAX_TYPES,
        description="Only events of these flat types (repeat the parameter for several).",
        schema_extra={
            "oneOf": [
                {"type": "array", "items": {"type": "string", "enum": list(ALL_EVENTS)}},
                {"type": "null"},
            ]
        },
        examples=[
            Example(summary="Cancels and retires", value=["RunCancelled", "WorkflowRetired"])
        ],
    ),
]
AuditCursor = Annotated[str | None, cursor_parameter(_AUDIT_CURSOR_EXAMPLE, max_length=64)]


class AuditEntryView(BaseModel):
    """One recorded change: what changed, who caused it, when, and in which request."""

    model_config = ConfigDict(frozen=True)

    position: Annotated[int, Field(description="The event's position in the global log.")]
    type: Annotated[str, Field(examples=["RunCancelled"])]
    aggregate: Annotated[str, Field(description="Run, Workflow or Worker.", examples=["Run"])]
    aggregate_id: Annotated[str, Field(examples=["0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"])]
    version: Annotated[int, Field(description="The aggregate's version after this event.")]
    timestamp: datetime
    tenant: Annotated[str, Field(examples=["default"])]
    actor: Annotated[str, Field(examples=["anonymous"])]
    correlation_id: Annotated[str, Field(examples=["req-7f3a"])]
    trace_id: TraceId
    data: Annotated[dict[str, Any], Field(examples=[{"reason": "wrong date"}])]

    @classmethod
    def of(cls, entry: HistoryEntry) -> "AuditEntryView":
        return cls(
            position=entry.position,
            type=entry.type,
            aggregate=entry.aggregate,
            aggregate_id=str(entry.aggregate_id),
            version=entry.version,
            timestamp=entry.timestamp,
            tenant=entry.tenant,
            actor=entry.actor,
            correlation_id=entry.correlation_id,
            trace_id=entry.trace_id,
            data=entry.data,
        )


class AuditPage(BaseModel):
    """A page of the audit log, oldest first; `next_cursor` is null on the last page."""

    model_config = ConfigDict(frozen=True)

    items: list[AuditEntryView]
    next_cursor: Annotated[str | None, Field(examples=[_AUDIT_CURSOR_EXAMPLE])]

    @classmethod
    def of(cls, entries: Sequence[HistoryEntry], limit: int) -> "AuditPage":
        page = entries[:limit]
        more = len(entries) > limit
        return cls(
            items=[AuditEntryView.of(entry) for entry in page],
            next_cursor=audit_cursor(page[-1].position) if more and page else None,
        )


class AuditController(Controller):
    """The audit log: every command's actor and correlation id, as the events record them."""

    path = "/v1/audit"
    tags = ["audit"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        sync_to_thread=True,
        summary="List who did what",
        description="The tenant's recorded changes (runs, workflows and the workers serving "
        "it), oldest first, each with its actor, correlation id, time and data, read from "
        "the event log itself (strongly consistent). Filter by `actor`, by time (`since` <= "
        "timestamp < `until`, RFC 3339) and by `type` (flat names, repeatable). Follow "
        "`next_cursor` for the next page.",
        responses=problem_responses(),
    )
    def audit(
        self,
        *,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        actor: Actor = None,
        since: Since = None,
        until: Until = None,
        types: Types = None,
        cursor: AuditCursor = None,
        limit: PageSize = DEFAULT_PAGE_SIZE,
    ) -> AuditPage:
        start, end = query_instant("since", since), query_instant("until", until)
        if start is not None and end is not None and end <= start:
            raise invalid_query("until", "must be later than since")
        query = AuditQuery(
            actor=actor,
            since=start,
            until=end,
            types=_known(types),
            after=0 if cursor is None else audit_after(cursor),
            limit=limit + 1,  # one more than a page tells whether another page follows
        )
        return AuditPage.of(engine.audit(tenant, query), limit)


def _known(types: list[str] | None) -> tuple[str, ...]:
    unknown = sorted(set(types or ()) - set(ALL_EVENTS))
    if unknown:
        known = ", ".join(ALL_EVENTS)
        raise invalid_query("type", f"unknown event type(s) {', '.join(unknown)}; known: {known}")
    return tuple(dict.fromkeys(types or ()))
