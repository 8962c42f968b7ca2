"""What `GET /v1/events` and `/v1/events/schemas` answer: CloudEvents, pages of them, schemas."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from engine.event_feed import FeedItem, FeedPage
from engine.event_schemas import EventSchema
from gateways.http.pages import event_cursor

_RUN_ID = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"
CLOUD_EVENT_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "ledgerflow-1204",
    "source": "/ledgerflow/ledgerflow",
    "type": "dev.ledgerflow.run.task_succeeded.v1",
    "subject": _RUN_ID,
    "time": "2026-05-01T12:00:03.120000Z",
    "datacontenttype": "application/json",
    "tenant": "default",
    "actor": "worker:w1",
    "correlationid": "req-7f3a",
    "position": 1204,
    "aggregateversion": 5,
    "run": _RUN_ID,
    "workflow": "nightly-etl",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "data": {"task": "extract", "attempt": 1, "exit_code": 0, "output": {"rows": 42}},
}


class CloudEventView(BaseModel):
    """A domain event as a CloudEvents 1.0 structured-mode JSON object."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Annotated[str, Field(examples=["1.0"])]
    id: Annotated[
        str,
        Field(
            description="`ledgerflow-<position>`: stable, unique per source.",
            examples=["ledgerflow-1204"],
        ),
    ]
    source: Annotated[str, Field(examples=["/ledgerflow/ledgerflow"])]
    type: Annotated[
        str,
        Field(
            description="`dev.ledgerflow.<aggregate>.<snake_case_event>.v<N>`.",
            examples=["dev.ledgerflow.run.task_succeeded.v1"],
        ),
    ]
    subject: Annotated[str, Field(description="The aggregate's id.", examples=[_RUN_ID])]
    time: datetime
    datacontenttype: Annotated[str, Field(examples=["application/json"])]
    tenant: Annotated[str, Field(examples=["default"])]
    actor: Annotated[str, Field(examples=["worker:w1"])]
    correlationid: Annotated[str, Field(examples=["req-7f3a"])]
    position: Annotated[int, Field(description="The position in the global log.", examples=[1204])]
    aggregateversion: Annotated[int, Field(description="The aggregate's N-th event.", examples=[5])]
    run: Annotated[str | None, Field(description="The run, for a run's events.")] = None
    workflow: Annotated[
        str | None, Field(description="The workflow the event belongs to, if any.")
    ] = None
    traceparent: Annotated[
        str | None,
        Field(
            description="W3C traceparent of the request or message that caused the event "
            "(CloudEvents distributed-tracing extension); absent on events that predate traces.",
            examples=[CLOUD_EVENT_EXAMPLE["traceparent"]],
        ),
    ] = None
    data: Annotated[dict[str, Any] | None, Field(examples=[CLOUD_EVENT_EXAMPLE["data"]])] = None
    dataref: Annotated[
        str | None, Field(description="Where to read `data`, when it was too large to carry.")
    ] = None


class EventPage(BaseModel):
    """CloudEvents in log order; `next_cursor` is null once the page reached the log's end."""

    model_config = ConfigDict(frozen=True)

    items: list[CloudEventView]
    next_cursor: Annotated[str | None, Field(examples=["ZTEAAAAAAAAEtDm8h2wJ1w"])]
    last_position: Annotated[
        int,
        Field(
            description="The log position this page read up to: pass it as `after` (or as "
            "`Last-Event-ID`) to continue later, with no gap and no duplicate.",
            examples=[1204],
        ),
    ]

    @staticmethod
    def body_of(page: FeedPage) -> dict[str, Any]:
        """The page as JSON values; each item is exactly the CloudEvent the relay publishes
        (absent attributes stay absent rather than null)."""
        return {
            "items": [item.cloud_event for item in page.items],
            "next_cursor": None if page.at_head else event_cursor(page.last_position),
            "last_position": page.last_position,
        }


class EventSchemaView(BaseModel):
    """One event type and the JSON Schema (2020-12) its CloudEvents match."""

    model_config = ConfigDict(frozen=True)

    name: Annotated[
        str, Field(description="The flat name `type` filters take.", examples=["TaskSucceeded"])
    ]
    type: Annotated[str, Field(examples=["dev.ledgerflow.run.task_succeeded.v1"])]
    version: Annotated[int, Field(examples=[1])]
    json_schema: Annotated[
        dict[str, Any],
        Field(
            description="The JSON Schema (draft 2020-12) of the whole CloudEvent, `data` included.",
            examples=[{"type": "object", "required": ["specversion"]}],
        ),
    ]

    @classmethod
    def of(cls, schema: EventSchema) -> "EventSchemaView":
        return cls(
            name=schema.name, type=schema.type, version=schema.version, json_schema=schema.schema
        )


class EventSchemaPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[EventSchemaView]
    next_cursor: Annotated[str | None, Field(description="Always null: the list is complete.")] = (
        None
    )

    @classmethod
    def of(cls, schemas: Sequence[EventSchema]) -> "EventSchemaPage":
        return cls(items=[EventSchemaView.of(schema) for schema in schemas])


def sse_data(item: FeedItem) -> str:
    """The `data:` of one Server-Sent Event: the CloudEvent as compact JSON."""
    return json.dumps(item.cloud_event, separators=(",", ":"), ensure_ascii=False)
