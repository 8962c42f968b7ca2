"""Domain events as CloudEvents 1.0 (structured JSON): their type names, ids and envelope."""

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic_core import to_jsonable_python

from engine.event_types import flat_name

SPEC_VERSION = "1.0"
TYPE_PREFIX = "dev.ledgerflow"
DATA_CONTENT_TYPE = "application/json"
ID_PREFIX = "ledgerflow-"

METADATA = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "tenant",
        "actor",
        "correlation_id",
        "traceparent",
    }
)
"""Fields every event carries that become CloudEvent attributes rather than `data`."""

_WORD = re.compile(r"(?<!^)(?=[A-Z])")
_ID = re.compile(rf"{ID_PREFIX}([1-9][0-9]{{0,17}})")


def aggregate_name(event_class: type[Any]) -> str:
    """`Run.TaskQueued` -> `run`, `ScheduleTick.ScheduleFired` -> `schedule_tick`."""
    aggregate, _, _ = event_class.__qualname__.rpartition(".")
    return _snake(aggregate)


def event_name(event_class: type[Any]) -> str:
    """`Run.TaskSucceeded` -> `task_succeeded`, `Workflow.Registered` -> `registered`."""
    return _snake(event_class.__qualname__.rpartition(".")[2])


def event_version(event_class: type[Any]) -> int:
    """The event class's schema version (eventsourcing's `class_version`, 1 by default)."""
    version: int = getattr(event_class, "class_version", 1)
    return version


def cloud_event_type(event_class: type[Any]) -> str:
    """`dev.ledgerflow.<aggregate>.<snake_case_event>.v<N>`: `dev.ledgerflow.run.task_queued.v1`."""
    return (
        f"{TYPE_PREFIX}.{aggregate_name(event_class)}.{event_name(event_class)}"
        f".v{event_version(event_class)}"
    )


def type_parts(event_type: str) -> tuple[str, str]:
    """(aggregate, snake_case event) of a CloudEvents type of ours: `("run", "task_queued")`."""
    _, _, aggregate, event, _ = event_type.split(".")
    return aggregate, event


def cloud_event_id(position: int) -> str:
    """The id of the event at `position` in the log: stable, so re-publishing de-duplicates."""
    return f"{ID_PREFIX}{position}"


def position_of(event_id: str) -> int | None:
    """The log position a CloudEvent id names, or None if it is not one of ours."""
    match = _ID.fullmatch(event_id)
    return None if match is None else int(match.group(1))


def source_of(schema: str) -> str:
    """The CloudEvents `source` of a deployment: one log per PostgreSQL schema."""
    return f"/ledgerflow/{schema}"


def cloud_event(
    position: int, event: object, *, source: str, workflow: str | None
) -> dict[str, Any]:
    """The structured-mode CloudEvent of a domain event, as JSON-ready values.

    Extension attributes (lowercase alphanumerics, as the spec requires): `tenant`, `actor`,
    `correlationid`, `position` (in the global log), `aggregateversion` (the aggregate's N-th
    event), `run` for a run's events, `workflow` whenever the event belongs to one, and
    `traceparent` (the distributed-tracing extension) unless the event predates traces.
    """
    fields = vars(event)
    event_class = type(event)
    originator: UUID = fields["originator_id"]
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": cloud_event_id(position),
        "source": source,
        "type": cloud_event_type(event_class),
        "subject": str(originator),
        "time": rfc3339(fields["timestamp"]),
        "datacontenttype": DATA_CONTENT_TYPE,
        "tenant": fields["tenant"],
        "actor": fields["actor"],
        "correlationid": fields["correlation_id"],
        "position": position,
        "aggregateversion": fields["originator_version"],
    }
    if aggregate_name(event_class) == "run":
        envelope["run"] = str(originator)
    if workflow is not None:
        envelope["workflow"] = workflow
    if (traceparent := fields.get("traceparent")) is not None:
        envelope["traceparent"] = traceparent
    envelope["data"] = to_jsonable_python(
        {key: value for key, value in fields.items() if key not in METADATA}
    )
    return envelope


def rfc3339(instant: datetime) -> str:
    """An RFC 3339 UTC timestamp with microseconds and a `Z`."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def flat_type(event: object) -> str:
    """The API's flat name of an event (`TaskQueued`, `RunStarted`), as SSE `event:` carries it."""
    return flat_name(type(event))


def _snake(name: str) -> str:
    return _WORD.sub("_", name).lower()
