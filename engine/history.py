"""A run's or workflow's recorded events as history entries: flat type, position and metadata."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent

# Event names that already start with their subject keep it; the rest get their aggregate's.
_SUBJECTS = ("Task", "Schedule")
_METADATA = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "tenant",
        "actor",
        "correlation_id",
    }
)


@runtime_checkable
class PositionedEventLog(Protocol):
    """An event store that can say where in the global log each of an aggregate's events is."""

    def select_positioned_events(
        self, originator_id: UUID, *, after_version: int, limit: int
    ) -> Sequence[tuple[int, StoredEvent]]:
        """The aggregate's events after `after_version`, each with its notification id."""
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
    data: dict[str, Any]


def flat_event_type(event: object) -> str:
    """`Run.TaskQueued` -> `TaskQueued`, `Run.Started` -> `RunStarted` (the API's names)."""
    aggregate, _, name = type(event).__qualname__.rpartition(".")
    return name if name.startswith(_SUBJECTS) else f"{aggregate}{name}"


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
        data={key: value for key, value in fields.items() if key not in _METADATA},
    )
