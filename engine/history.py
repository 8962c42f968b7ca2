"""A run's or workflow's recorded events as history entries: flat type, position and metadata."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent

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
    fields = vars(event)
    return HistoryEntry(
        type=flat_event_type(event),
        version=event.originator_version,
        position=position,
        timestamp=fields["timestamp"],
        tenant=fields["tenant"],
        actor=fields["actor"],
        correlation_id=fields["correlation_id"],
        trace_id=_trace_id(fields.get("traceparent")),
        data={key: value for key, value in fields.items() if key not in _METADATA},
        aggregate_id=event.originator_id,
        aggregate=type(event).__qualname__.partition(".")[0],
    )


def _trace_id(traceparent: str | None) -> str | None:
    return None if traceparent is None else trace_id(traceparent)
