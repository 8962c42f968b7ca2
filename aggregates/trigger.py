"""A workflow's inbound triggers: a subject name, an optional filter, the messages they match."""

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from aggregates.errors import InvalidTriggerMessageError, Problem
from aggregates.trace_context import valid_traceparent

MAX_TRIGGERS = 16
MAX_FILTER_FIELDS = 16
MAX_MESSAGE_BYTES = 256 * 1024
"""A triggering message becomes the run's inputs, so it has the inputs' limit (256 KiB)."""

SUBJECT_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,15}$"
"""Dot-separated tokens of [A-Za-z0-9_-]: no wildcards (`*`, `>`), no empty tokens."""

SubjectName = Annotated[str, StringConstraints(pattern=SUBJECT_NAME_PATTERN, max_length=200)]
FieldPath = Annotated[str, StringConstraints(pattern=SUBJECT_NAME_PATTERN, max_length=200)]
FilterValue = Annotated[str, Field(max_length=1024)] | float | bool | None
"""A JSON scalar; numbers are floats (`1` is kept as `1.0`: JSON Schema's `oneOf` would find an
integer both an `integer` and a `number`), and compare as numbers."""


class TriggerSpec(BaseModel):
    """Start a run for each message on the tenant's subject `subject` that matches.

    The server subscribes `ledgerflow.triggers.<tenant>.<subject>`: a client names a subject
    within its own tenant, never a raw NATS subject. `type` must equal the CloudEvent `type`
    when given; `filter` maps dotted paths into the message (`data.status`) to the values
    they must equal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: SubjectName
    type: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    filter: Annotated[dict[FieldPath, FilterValue], Field(max_length=MAX_FILTER_FIELDS)] = {}

    def matches(self, message: "TriggerMessage") -> bool:
        """Whether `message` (on some subject name) starts a run by this trigger."""
        if message.subject != self.subject:
            return False
        if self.type is not None and message.type != self.type:
            return False
        return all(
            _same(_lookup(message.body, path), expected) for path, expected in self.filter.items()
        )


@dataclass(frozen=True)
class TriggerMessage:
    """A CloudEvent that arrived on a tenant's subject name (over NATS or HTTP)."""

    subject: str
    id: str
    type: str
    body: dict[str, Any]

    @property
    def traceparent(self) -> str | None:
        """The sender's trace (the CloudEvents distributed-tracing extension), if valid."""
        offered = self.body.get("traceparent")
        return valid_traceparent(offered) if isinstance(offered, str) else None


class _CloudEvent(BaseModel):
    """The CloudEvents 1.0 attributes a trigger needs (structured JSON mode)."""

    model_config = ConfigDict(extra="allow")

    specversion: str = Field(pattern=r"^1\.0$")
    id: Annotated[str, Field(min_length=1, max_length=256)]
    source: Annotated[str, Field(min_length=1, max_length=1024)]
    type: Annotated[str, Field(min_length=1, max_length=256)]


def trigger_message(subject: str, body: object, *, size: int) -> TriggerMessage:
    """The message a decoded CloudEvent `body` of `size` bytes is; refused with the problems."""
    if size > MAX_MESSAGE_BYTES:
        msg = f"the message is {size} bytes, over the {MAX_MESSAGE_BYTES}-byte inputs limit"
        raise InvalidTriggerMessageError([Problem("body", msg)])
    if not isinstance(body, dict):
        raise InvalidTriggerMessageError([Problem("body", "a CloudEvent must be a JSON object")])
    unstorable = _unstorable(body)
    if unstorable is not None:
        raise InvalidTriggerMessageError([Problem("body", unstorable)])
    try:
        event = _CloudEvent.model_validate(body)
    except ValidationError as error:
        raise InvalidTriggerMessageError(
            [
                Problem(".".join(str(part) for part in item["loc"]) or "body", item["msg"])
                for item in error.errors()
            ]
        ) from None
    return TriggerMessage(subject=subject, id=event.id, type=event.type, body=body)


def decode_trigger_message(subject: str, raw: bytes, msg_id: str | None) -> TriggerMessage:
    """Parse a raw NATS message; a missing CloudEvent `id` is taken from `Nats-Msg-Id`."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return trigger_message(subject, None, size=len(raw))
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidTriggerMessageError([Problem("body", "not valid JSON")]) from None
    if isinstance(body, dict) and "id" not in body and msg_id:
        body = {**body, "id": msg_id}
    return trigger_message(subject, body, size=len(raw))


def _lookup(body: dict[str, Any], path: str) -> object:
    value: object = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _same(value: object, expected: object) -> bool:
    # `True == 1` in Python, not in JSON: a filter on `true` does not match `1`; numbers
    # compare as numbers (`1` matches `1.0`), other values by type and value.
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if isinstance(value, int | float) and isinstance(expected, int | float):
        return value == expected
    return type(value) is type(expected) and value == expected


def _unstorable(body: dict[str, Any]) -> str | None:
    # NUL and lone surrogates cannot be stored in PostgreSQL jsonb: refused, never retried.
    try:
        json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    except ValueError:
        return "must not hold NaN or Infinity"
    return "must not contain NUL characters" if _has_nul(body) else None


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _refuse_constant(name: str) -> object:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


_MISSING = object()
