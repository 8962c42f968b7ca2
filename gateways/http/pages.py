"""Pages of the API's lists: the page size, the opaque cursors that link one page to the next
and the RFC 3339 instants that bound a list's time window.

A cursor is the last item's position in the list's order, sealed with the list's kind and a
checksum and encoded as URL-safe base64: a cursor edited by hand, cut short or issued by
another list is refused with a 422 naming `cursor`. The checksum has no secret, so it detects
tampering, not forgery; a forged cursor is only a position, and every query is tenant-scoped.
"""

import base64
import binascii
import hashlib
import re
import struct
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from litestar.exceptions import ValidationException
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from projections.runs.view import RunPosition

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_CURSOR_LENGTH = 128
_CURSOR_EXAMPLE = "cjEABlC38D5qQAteHZxPakwemjN9L45LbBBur4xKfFk"
_NAME_CURSOR_EXAMPLE = "dzFuaWdodGx5LWV0bCmM9SPqWw"  # name_cursor("nightly-etl")

# RFC 3339 with a time zone; a `+` the client left unencoded arrives as a space.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+ -]\d{2}:\d{2})"
)


def instant_parameter(description: str, summary: str, example: str) -> Any:
    """A query parameter holding an RFC 3339 instant (with a time zone)."""
    return QueryParameter(
        max_length=64,
        format="date-time",
        description=description,
        examples=[Example(summary=summary, value=example)],
    )


def cursor_parameter(
    example: str,
    *,
    max_length: int = MAX_CURSOR_LENGTH,
    description: str = "The `next_cursor` of the previous page, as it was given (opaque).",
) -> Any:
    """A list's opaque cursor parameter; each list has its own example, since it refuses the
    cursors of the others."""
    return QueryParameter(
        min_length=1,
        max_length=max_length,
        description=description,
        examples=[Example(summary="A cursor from a previous page", value=example)],
    )


PageSize = Annotated[
    int,
    QueryParameter(
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Items per page, 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
        examples=[Example(summary="A small page", value=20)],
    ),
]
PageCursor = Annotated[str | None, cursor_parameter(_CURSOR_EXAMPLE)]
WorkflowCursor = Annotated[str | None, cursor_parameter(_NAME_CURSOR_EXAMPLE)]
AsOf = Annotated[
    str | None,
    instant_parameter(
        "Show it as it stood at this RFC 3339 instant (with a time zone), rebuilt from the "
        "events recorded until then.",
        "A UTC instant",
        "2026-05-01T12:00:00Z",
    ),
]

_RUNS = b"r1"
_WORKFLOWS = b"w1"
_BUCKETS = b"b1"
_AUDIT = b"a1"
_EVENTS = b"e1"
_CHECKSUM_BYTES = 6
_RUN_POSITION = struct.Struct(">q16s")  # microseconds since the epoch, then the run id
_BUCKET_POSITION = struct.Struct(">q")  # the bucket's start, microseconds since the epoch
_LOG_POSITION = struct.Struct(">q")  # a position in the event log
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def run_cursor(position: RunPosition) -> str:
    """The cursor of a page of runs that ends at `position`."""
    micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
    return _seal(_RUNS, _RUN_POSITION.pack(micros, position.run_id.bytes))


def run_position(cursor: str) -> RunPosition:
    """The position a runs cursor continues after; a 422 naming `cursor` if it is not one."""
    payload = _open(_RUNS, cursor)
    if len(payload) != _RUN_POSITION.size:
        raise invalid_query("cursor", "is not a cursor of this list")
    micros, run_id = _RUN_POSITION.unpack(payload)
    try:
        created_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise invalid_query("cursor", "is not a cursor of this list") from None
    return RunPosition(created_at, UUID(bytes=run_id))


def name_cursor(name: str) -> str:
    """The cursor of a page of workflows that ends at `name`."""
    return _seal(_WORKFLOWS, name.encode())


def name_after(cursor: str) -> str:
    """The name a workflows cursor continues after; a 422 naming `cursor` if it is not one."""
    try:
        return _open(_WORKFLOWS, cursor).decode()
    except UnicodeDecodeError:
        raise invalid_query("cursor", "is not a cursor of this list") from None


def bucket_cursor(start: datetime) -> str:
    """The cursor of a page of statistics buckets that ends at the bucket starting at `start`."""
    return _seal(_BUCKETS, _BUCKET_POSITION.pack((start - _EPOCH) // timedelta(microseconds=1)))


def bucket_before(cursor: str) -> datetime:
    """The bucket start a statistics cursor continues before; a 422 naming `cursor` if it is
    not one."""
    payload = _open(_BUCKETS, cursor)
    if len(payload) != _BUCKET_POSITION.size:
        raise invalid_query("cursor", "is not a cursor of this list")
    (micros,) = _BUCKET_POSITION.unpack(payload)
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise invalid_query("cursor", "is not a cursor of this list") from None


def event_cursor(position: int) -> str:
    """The cursor of a page of the event log that ends at `position`."""
    return _seal(_EVENTS, _LOG_POSITION.pack(position))


def event_after(cursor: str) -> int:
    """The log position an events cursor continues after; a 422 naming `cursor` if it is not
    one."""
    payload = _open(_EVENTS, cursor)
    if len(payload) != _LOG_POSITION.size:
        raise invalid_query("cursor", "is not a cursor of this list")
    (position,) = _LOG_POSITION.unpack(payload)
    if position < 0:
        raise invalid_query("cursor", "is not a cursor of this list")
    return int(position)


def audit_cursor(position: int) -> str:
    """The cursor of a page of the audit log that ends at log `position`."""
    return _seal(_AUDIT, _LOG_POSITION.pack(position))


def audit_after(cursor: str) -> int:
    """The log position an audit cursor continues after; a 422 naming `cursor` if it is not
    one."""
    return _log_position(_AUDIT, cursor)


def _log_position(kind: bytes, cursor: str) -> int:
    payload = _open(kind, cursor)
    if len(payload) != _LOG_POSITION.size:
        raise invalid_query("cursor", "is not a cursor of this list")
    (position,) = _LOG_POSITION.unpack(payload)
    if position < 0:
        raise invalid_query("cursor", "is not a cursor of this list")
    return int(position)


def query_instant(key: str, value: str | None) -> datetime | None:
    """An RFC 3339 date-time with its time zone; a 422 naming `key` otherwise."""
    if value is None:
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise invalid_query(key, "must be an RFC 3339 date-time with a time zone")
    date, time, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone.replace(" ", "+")
    micros = (fraction or ".")[1:7].ljust(6, "0")  # finer than a microsecond is dropped
    try:
        return datetime.fromisoformat(f"{date}T{time}.{micros}{zone}")
    except ValueError:
        raise invalid_query(key, "is not a valid date-time") from None


def invalid_query(key: str, message: str) -> ValidationException:
    """A 422 naming the query parameter `key`."""
    return ValidationException(
        detail=f"{key} is not valid", extra=[{"key": key, "message": message, "source": "query"}]
    )


def _seal(kind: bytes, payload: bytes) -> str:
    sealed = kind + payload + _checksum(kind, payload)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _open(kind: bytes, cursor: str) -> bytes:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sealed = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise invalid_query("cursor", "is not a cursor this API issued") from None
    payload, checksum = sealed[len(kind) : -_CHECKSUM_BYTES], sealed[-_CHECKSUM_BYTES:]
    if not sealed.startswith(kind) or checksum != _checksum(kind, payload):
        raise invalid_query("cursor", "is not a cursor of this list, or it was altered")
    return payload


def _checksum(kind: bytes, payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_CHECKSUM_BYTES, person=kind).digest()
