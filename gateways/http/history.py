"""A run's history as the API pages it: events with positions, and opaque cursors between pages."""

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from litestar.exceptions import ValidationException
from litestar.openapi.spec import Example
from litestar.params import QueryParameter
from pydantic import BaseModel, ConfigDict, Field

from engine.event_types import RUN_EVENTS
from engine.history import HistoryEntry

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

_CURSOR = re.compile(r"v1:(0|[1-9][0-9]{0,17})")

After = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        schema_extra={"minimum": 0},  # Litestar 2 leaves a bound of 0 out of the document
        description="Only events after this run version (its N-th event); 0 is the start.",
    ),
]
Cursor = Annotated[
    str | None,
    QueryParameter(max_length=64, description="The `next_cursor` of the previous page."),
]
Limit = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"Events per page, 1-{MAX_PAGE_SIZE}."),
]
MAX_TYPES = 50


def _array_of(names: list[str]) -> dict[str, object]:
    return {"type": "array", "items": {"type": "string", "enum": names}, "maxItems": MAX_TYPES}


Types = Annotated[
    list[str] | None,
    QueryParameter(
        name="type",
        max_items=MAX_TYPES,
        description="Only events of these types, by flat name (`TaskFailed`, `RunStarted`...); "
        "repeat the parameter for several. An unknown type is a 422.",
        # The names come from the aggregate, so the document lists them as an enum.
        schema_extra={"oneOf": [_array_of(list(RUN_EVENTS)), {"type": "null"}]},
        examples=[
            Example(summary="Failures and retries", value=["TaskFailed", "TaskRetryScheduled"])
        ],
    ),
]


def known_types(types: list[str] | None) -> tuple[str, ...]:
    """The distinct `type` filters, each a run event's flat name; a 422 at `type` otherwise."""
    unknown = sorted(set(types or ()) - set(RUN_EVENTS))
    if unknown:
        known = ", ".join(RUN_EVENTS)
        raise _invalid("type", f"unknown event type(s) {', '.join(unknown)}; known: {known}")
    return tuple(dict.fromkeys(types or ()))


TraceId = Annotated[
    str | None,
    Field(
        description="The W3C trace id of the request or message that caused the event "
        "(null for events recorded before traces were).",
        examples=["4bf92f3577b34da6a3ce929d0e0e4736"],
    ),
]


class EventView(BaseModel):
    """One recorded state change of a run."""

    model_config = ConfigDict(frozen=True)

    type: Annotated[str, Field(examples=["TaskQueued"])]
    version: Annotated[int, Field(description="The run's version after this event.")]
    position: Annotated[int, Field(description="The event's position in the global log.")]
    timestamp: datetime
    tenant: Annotated[str, Field(examples=["default"])]
    actor: Annotated[str, Field(examples=["anonymous"])]
    correlation_id: Annotated[str, Field(examples=["req-7f3a"])]
    trace_id: TraceId
    data: Annotated[dict[str, Any], Field(examples=[{"task": "extract", "attempt": 1}])]

    @classmethod
    def of(cls, entry: HistoryEntry) -> "EventView":
        return cls(
            type=entry.type,
            version=entry.version,
            position=entry.position,
            timestamp=entry.timestamp,
            tenant=entry.tenant,
            actor=entry.actor,
            correlation_id=entry.correlation_id,
            trace_id=entry.trace_id,
            data=entry.data,
        )


class HistoryPage(BaseModel):
    """A page of events, oldest first; `next_cursor` is null on the last page."""

    model_config = ConfigDict(frozen=True)

    items: list[EventView]
    next_cursor: Annotated[str | None, Field(examples=["djE6NTA"])]

    @classmethod
    def of(cls, entries: Sequence[HistoryEntry], limit: int) -> "HistoryPage":
        """The first `limit` entries; one more than `limit` means another page follows."""
        page = entries[:limit]
        more = len(entries) > limit
        return cls(
            items=[EventView.of(entry) for entry in page],
            next_cursor=encode_cursor(page[-1].version) if more and page else None,
        )


def encode_cursor(version: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{version}".encode()).decode().rstrip("=")


def after_version(after: int | None, cursor: str | None) -> int:
    """The run version a page starts after, from `after` or from an opaque `cursor`."""
    if cursor is None:
        return after or 0
    if after is not None:
        raise _invalid("cursor", "give either `after` or `cursor`, not both")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid("cursor", "is not a cursor this API issued") from None
    match = _CURSOR.fullmatch(decoded)
    if match is None:
        raise _invalid("cursor", "is not a cursor this API issued")
    return int(match.group(1))


def _invalid(key: str, message: str) -> ValidationException:
    return ValidationException(
        detail=f"{key} is not valid", extra=[{"key": key, "message": message, "source": "query"}]
    )
