"""What the scheduler hands the engine and gets back: due ticks, prepared ticks, decisions."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from aggregates.schedule_plan import Decision
from aggregates.spec import WorkflowSpec
from aggregates.workflow import Workflow


@dataclass(frozen=True)
class DueTicks:
    """One schedule's due, undecided ticks (oldest first), as the scheduler sees them."""

    tenant: str
    workflow: str
    ticks: tuple[datetime, ...]
    previous_run: UUID | None = None
    buffered: bool = False
    more: bool = False
    """More undecided ticks follow these (a long downtime): all of these were missed."""


@dataclass
class TicksDecided:
    """What firing one schedule's ticks did; `collided`: another scheduler decided some."""

    due: DueTicks
    fired: list[UUID] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    collided: bool = False


@runtime_checkable
class BatchedEventLog(Protocol):
    """An event store that reads the events of many aggregates in one round trip."""

    def select_events_of(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        """Every event of each aggregate, grouped by aggregate, oldest version first."""
        ...


@dataclass(frozen=True)
class PreparedTicks:
    """Due ticks with what deciding them needs, loaded before their instant so that firing
    them at the instant only decides and commits: each schedule's workflow and its spec."""

    due: tuple[DueTicks, ...]
    workflows: dict[tuple[str, str], tuple[Workflow, WorkflowSpec]]
