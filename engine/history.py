"""A run's or workflow's recorded events as history entries: flat type, position and metadata."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoding
from eventsourcing.utils import resolve_topic

from aggregates.trace_context import trace_id
from engine.event_types import flat_name

_METADATA = frozenset(
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


@runtime_checkable
class PositionedEventLog(Protocol):
    """An event store that can say where in the global log each of an aggregate's events is."""

    def select_positioned_events(
        self,
        originator_id: UUID,
        *,
        after_version: int,
        limit: int,
        topics: Sequence[str] = (),
    ) -> Sequence[tuple[int, StoredEvent]]:
        """The aggregate's events after `after_version` (of `topics` only, unless empty),
        each with its notification id."""
        ...


@dataclass(frozen=True)
class AuditFilter:
    """Which of a tenant's events the audit log lists: all, unless narrowed."""

    actor: str | None = None
    since: datetime | None = None
    """At or after this instant."""
    until: datetime | None = None
    """Before this instant."""
    topics: Sequence[str] = ()


@runtime_checkable
class AuditedEventLog(Protocol):
    """An event store that can list a tenant's events across aggregates, by who and when."""

    def select_audit_events(
        self, tenant: str, where: AuditFilter, *, after_position: int, limit: int
    ) -> Sequence[tuple[int, StoredEvent]]:
        """The tenant's events after `after_position` that match `where`, in log order,
        each with its notification id."""
        ...


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded state change, as the API and the CLI show it."""

    type: str
    version: int
    position: int
    timestamp: datetime
    tenant: str
    actor: str
    correlation_id: str
    trace_id: str | None
    """The W3C trace the event belongs to (None for events stored before traces)."""
    data: dict[str, Any]
    aggregate_id: UUID
    aggregate: str
    """The kind of thing that changed: `Run`, `Workflow`, `Worker`."""


def flat_event_type(event: object) -> str:
    """`Run.TaskQueued` -> `TaskQueued`, `Run.Started` -> `RunStarted` (the API's names)."""
    return flat_name(type(event))


def history_entry(position: int, event: DomainEventProtocol[Any]) -> HistoryEntry:
    return _entry(position, type(event), event.originator_id, event.originator_version, vars(event))


def _entry(
    position: int,
    event_class: type[Any],
    aggregate_id: UUID,
    version: int,
    fields: Mapping[str, Any],
) -> HistoryEntry:
    """The entry of one event, from its fields as the mapper decodes them (the metadata
    among them goes to its own attributes, the rest is `data`)."""
    return HistoryEntry(
        type=flat_name(event_class),
        version=version,
        position=position,
        timestamp=fields["timestamp"],
        tenant=fields["tenant"],
        actor=fields["actor"],
        correlation_id=fields["correlation_id"],
        trace_id=_trace_id(fields.get("traceparent")),
        data={key: value for key, value in fields.items() if key not in _METADATA},
        aggregate_id=aggregate_id,
        aggregate=event_class.__qualname__.partition(".")[0],
    )


class HistoryDecoder:
    """Turns stored events into history entries, reading each event's JSON state straight
    into its fields instead of building a domain event object first (ADR 21).

    An entry needs the event's fields, not the event. `msgspec` parses a state without the
    Python hook the library's transcoder calls per JSON object, then the objects the
    transcoder stored as `{"_type_": name, "_data_": ...}` (datetimes, UUIDs, decimals) are
    turned back by the mapper's own registered transcodings, innermost first, as its hook
    does: half the transcoder's time for the benchmark's 10,000 states, and no domain event
    object per event. Whatever the mapper would do more than that goes through the mapper:
    states written by an older `class_version` (its upcasters), encrypted or compressed
    states, and JSON that `msgspec` refuses but `json` reads (`NaN`, `1e400`).
    """

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self._transcodings: Mapping[str, Transcoding] | None = None
        transcoder = mapper.transcoder
        if isinstance(transcoder, JSONTranscoder) and not (mapper.cipher or mapper.compressor):
            self._transcodings = transcoder.names

    def entry(self, position: int, stored: StoredEvent) -> HistoryEntry:
        """The history entry of the stored event at `position` in the log."""
        event_class = resolve_topic(stored.topic)
        aggregate_id = stored.originator_id
        fields = self._fields(event_class, stored.state)
        if fields is None or not isinstance(aggregate_id, UUID):
            return history_entry(position, self._mapper.to_domain_event(stored))
        return _entry(position, event_class, aggregate_id, stored.originator_version, fields)

    def _fields(self, event_class: type[Any], state: bytes) -> dict[str, Any] | None:
        """The event's fields as the mapper would decode them, or None when only the
        mapper can."""
        if self._transcodings is None:
            return None
        try:
            fields = msgspec.json.decode(state)
        except msgspec.DecodeError:
            return None
        if not isinstance(fields, dict):
            return None
        if fields.pop("class_version", 1) < getattr(event_class, "class_version", 1):
            return None  # the mapper upcasts it (and may reorder its fields)
        try:
            transcoded: dict[str, Any] = _transcoded(fields, self._transcodings)
        except (KeyError, TypeError, ValueError):
            return None  # a name not registered, or data it refuses: the mapper's error
        return transcoded


def _transcoded(value: Any, transcodings: Mapping[str, Transcoding]) -> Any:
    """`value` with every `{"_type_": name, "_data_": ...}` object turned back into what the
    transcoding `name` encoded, innermost first (in place: the value was just parsed)."""
    if type(value) is dict:
        for key, item in value.items():  # replacing values (not keys) while iterating is safe
            if type(item) is dict or type(item) is list:
                value[key] = _transcoded(item, transcodings)
        # The transcoder's own test for an object it encoded (JSONTranscoder._decode_obj).
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return transcodings[value["_type_"]].decode(value["_data_"])
    elif type(value) is list:
        for index, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                value[index] = _transcoded(item, transcodings)
    return value


def _trace_id(traceparent: str | None) -> str | None:
    return None if traceparent is None else trace_id(traceparent)
