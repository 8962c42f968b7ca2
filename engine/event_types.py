"""The catalogue of event types: each event class's flat API name and its stored topic."""

from collections.abc import Mapping
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from aggregates.run import Run
from aggregates.schedule_tick import ScheduleTick
from aggregates.subscription import Subscription
from aggregates.trigger_index import TriggerIndex
from aggregates.worker import Worker
from aggregates.workflow import Workflow

# Event names that already start with their subject keep it; the rest get their aggregate's.
_SUBJECTS = ("Task", "Schedule")
# Base classes eventsourcing defines on every aggregate class: no event is ever one of them.
_BASES = frozenset({"Event", "Created"})


def flat_name(event_class: type[Any]) -> str:
    """`Run.TaskQueued` -> `TaskQueued`, `Run.Started` -> `RunStarted` (the API's names)."""
    aggregate, _, name = event_class.__qualname__.rpartition(".")
    return name if name.startswith(_SUBJECTS) else f"{aggregate}{name}"


def event_classes(*aggregates: type[Aggregate]) -> dict[str, type[Any]]:
    """Every event class declared in `aggregates`, by flat name (declaration order)."""
    return {
        flat_name(value): value
        for aggregate in aggregates
        for name, value in vars(aggregate).items()
        if isinstance(value, type) and issubclass(value, Aggregate.Event) and name not in _BASES
    }


def topics_of(classes: Mapping[str, type[Any]]) -> dict[str, str]:
    """Flat name -> the topic the event store records for that class."""
    return {name: get_topic(cls) for name, cls in classes.items()}


RUN_EVENTS = event_classes(Run)
"""A run's events, by flat name: the types `GET /v1/runs/{id}/events?type=` filters on."""

ALL_EVENTS = event_classes(Run, Workflow, Worker, ScheduleTick, Subscription, TriggerIndex)
"""Every aggregate's events, by flat name: the types the audit log filters on."""
