"""The event log over HTTP: CloudEvents as JSON pages or Server-Sent Events, and their schemas."""

from typing import Annotated, Any
from uuid import UUID

import anyio
from litestar import Controller, Request, Response, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, QueryParameter

from engine.event_feed import EVENT_TOPICS, EventFeed, FeedQuery
from engine.event_schemas import event_schemas
from gateways.http.event_stream import (
    EVENT_STREAM,
    EventStreaming,
    EventStreamOperation,
    event_stream,
)
from gateways.http.event_views import CLOUD_EVENT_EXAMPLE, EventPage, EventSchemaPage
from gateways.http.openapi import problem_responses
from gateways.http.pages import (
    DEFAULT_PAGE_SIZE,
    PageSize,
    cursor_parameter,
    event_after,
    invalid_query,
)

MAX_POSITION = 2**62
MAX_TYPES = 50
_JSON = "application/json"

After = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=MAX_POSITION,
        schema_extra={"minimum": 0},  # Litestar 2 leaves a bound of 0 out of the document
        description="Only events after this log position (0: from the start). A "
        "`Last-Event-ID` header, when sent, wins (a reconnecting EventSource sends both).",
        examples=[Example(summary="After position 1200", value=1200)],
    ),
]
Cursor = Annotated[
    str | None,
    cursor_parameter(
        "ZTEAAAAAAAAEtDm8h2wJ1w",
        max_length=64,
        description="The `next_cursor` of the previous page (not with `after`).",
    ),
]
LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        max_length=20,
        pattern=r"^(0|[1-9][0-9]{0,17})(?!\n)$",
        description="a log position (digits): the `id:` of the last Server-Sent Event "
        "received; the stream resumes right after it (no gap, no duplicate)",
        # A header is text or absent, never null (which a client would send as "null").
        schema_extra={"oneOf": [{"type": "string"}]},
        examples=[Example(summary="Resume after position 1204", value="1204")],
    ),
]
Types = Annotated[
    list[str] | None,
    QueryParameter(
        name="type",
        max_items=MAX_TYPES,
        description="Only events of these types, by flat name (`TaskFailed`, `RunStarted`, "
        "`WorkflowRegistered`...); repeat the parameter for several. An unknown type is a 422.",
        schema_extra={
            "oneOf": [
                {
                    "type": "array",
                    "items": {"type": "string", "enum": list(EVENT_TOPICS)},
                    "maxItems": MAX_TYPES,
                },
                {"type": "null"},
            ]
        },
        examples=[Example(summary="Finished runs", value=["RunSucceeded", "RunFailed"])],
    ),
]
WorkflowFilter = Annotated[
    str | None,
    QueryParameter(
        # The look-ahead keeps `name%0A` out (msgspec matches with `re.search`).
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(?!\n)$",
        description="a workflow name (1-64 characters of `[A-Za-z0-9_-]`, starting with a "
        "letter or digit): only events of this workflow and of its runs",
        examples=[Example(summary="One workflow", value="nightly-etl")],
    ),
]
RunFilter = Annotated[
    UUID | None,
    QueryParameter(
        description="Only this run's events.",
        examples=[Example(summary="One run", value="0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10")],
    ),
]

_DESCRIPTION = """\
Every event of the tenant in log order, as CloudEvents 1.0 (the same messages the JetStream \
stream `ledgerflow.events.<tenant>.<aggregate>.<event>` carries), read from the event log.

With `Accept: text/event-stream` the answer is a stream of Server-Sent Events that stays open \
and pushes each event as it is committed: `id:` is the log position, `event:` the flat type, \
`data:` the CloudEvent; comments keep idle connections alive. Reconnect with `Last-Event-ID` \
(or `?after=`) to resume with no gap and no duplicate. Otherwise the answer is a JSON page: \
follow `next_cursor`, or poll later with `after=last_position`.

Filters: `type` (repeatable, flat names), `workflow`, `run`."""


class EventController(Controller):
    """The tenant's events as CloudEvents, and the JSON Schema of each event type."""

    path = "/v1/events"
    tags = ["events"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        summary="Read or stream the event log as CloudEvents",
        description=_DESCRIPTION,
        operation_class=EventStreamOperation,
        responses={
            200: ResponseSpec(
                data_container=EventPage,
                description="A page of CloudEvents (JSON), or a Server-Sent Events stream.",
                examples=[
                    Example(
                        summary="A page",
                        value={
                            "items": [CLOUD_EVENT_EXAMPLE],
                            "next_cursor": None,
                            "last_position": 1204,
                        },
                    )
                ],
                generate_examples=False,
            ),
            **problem_responses(),
        },
        response_headers=[
            ResponseHeader(
                name="Cache-Control",
                value="no-cache",
                documentation_only=True,
                description="Streams are not cached.",
                required=False,
            )
        ],
    )
    async def read_events(
        self,
        *,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[str],
        event_feed: NamedDependency[EventFeed],
        event_streaming: NamedDependency[EventStreaming],
        after: After = None,
        cursor: Cursor = None,
        last_event_id: LastEventId = None,
        limit: PageSize = DEFAULT_PAGE_SIZE,
        types: Types = None,
        workflow: WorkflowFilter = None,
        run: RunFilter = None,
    ) -> Response[Any]:
        query = FeedQuery(
            tenant=tenant,
            after=_start(after, cursor, last_event_id),
            types=_known_types(types),
            workflow=workflow,
            run=run,
            limit=limit,
        )
        if request.accept.best_match([_JSON, EVENT_STREAM], default=_JSON) == EVENT_STREAM:
            return event_stream(event_feed, query, event_streaming)
        page = await anyio.to_thread.run_sync(event_feed.page, query)
        return Response(EventPage.body_of(page), media_type=_JSON)

    @get(
        "/schemas",
        sync_to_thread=False,
        summary="List the JSON Schema of every event type",
        description="One entry per event type: its flat name (what `type` filters take), its "
        "CloudEvents `type` and version, and a JSON Schema (draft 2020-12) of the whole "
        "CloudEvent, generated from the event's declared fields, to validate messages with.",
        responses=problem_responses(),
    )
    def list_schemas(self) -> EventSchemaPage:
        return EventSchemaPage.of(event_schemas())


def _start(after: int | None, cursor: str | None, last_event_id: str | None) -> int:
    if last_event_id is not None:
        return int(last_event_id)
    if cursor is None:
        return after or 0
    if after is not None:
        raise invalid_query("cursor", "give either `after` or `cursor`, not both")
    return event_after(cursor)


def _known_types(types: list[str] | None) -> tuple[str, ...]:
    unknown = sorted(set(types or ()) - set(EVENT_TOPICS))
    if unknown:
        known = ", ".join(EVENT_TOPICS)
        raise invalid_query("type", f"unknown event type(s) {', '.join(unknown)}; known: {known}")
    return tuple(dict.fromkeys(types or ()))
