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
        # Built from the typed entry the engine decoded: validating it again cost about as
        # much as decoding a page of a long history.
        return cls.model_construct(**_view_fields(entry))


class HistoryPage(BaseModel):
    """A page of events, oldest first; `next_cursor` is null on the last page."""

    model_config = ConfigDict(frozen=True)

    items: list[EventView]
    next_cursor: Annotated[str | None, Field(examples=["djE6NTA"])]

    @classmethod
    def of(cls, entries: Sequence[HistoryEntry], limit: int) -> "HistoryPage":
        """The first `limit` entries; one more than `limit` means another page follows."""
        page = entries[:limit]
        return cls(items=[EventView.of(entry) for entry in page], next_cursor=_next(entries, limit))

    @staticmethod
    def body_of(entries: Sequence[HistoryEntry], limit: int) -> dict[str, Any]:
        """The page `of` would make, as the plain values its JSON is encoded from.

        Building a pydantic view per event and dumping it again took about as long as reading
        and decoding the events (ADR 21). Litestar's encoder (msgspec) writes these values as
        the model's `model_dump(mode="json")` writes the views' fields: datetimes in ISO 8601
        with `Z` for UTC, UUIDs and decimals as strings, the data's other values as JSON.
        `tests/unit/test_history_rendering.py` holds the two to the same bytes. One known
        difference: a datetime whose UTC offset has seconds (`+00:00:07`) comes out as `Z`,
        not `+00:00`; events record UTC times, and request bodies carry no datetimes.
        """
        items = [_view_fields(entry) for entry in entries[:limit]]
        return {"items": items, "next_cursor": _next(entries, limit)}


_VIEW_FIELDS = tuple(EventView.model_fields)
"""An event view's fields, each the history entry's attribute of the same name."""


def _view_fields(entry: HistoryEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _VIEW_FIELDS}


def _next(entries: Sequence[HistoryEntry], limit: int) -> str | None:
    """The cursor of the page after the first `limit` entries, if there is one."""
    return encode_cursor(entries[limit - 1].version) if len(entries) > limit > 0 else None


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
