"""What each Run event changes in the statistics read model, as plain values (no I/O)."""

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.run import Run, RunStatus


@dataclass(frozen=True)
class RunOpened:
    """A run started at `at`: it is remembered until it finishes, to measure its duration."""

    run_id: UUID
    tenant: str
    workflow: str
    at: datetime


@dataclass(frozen=True)
class RunClosed:
    """A run ended with `status` at `at`: it counts in the hour and the day `at` falls in."""

    run_id: UUID
    status: RunStatus
    at: datetime


Change = RunOpened | RunClosed


@singledispatch
def changes_for(event: object) -> tuple[Change, ...]:
    """The changes one event makes; () for an event the statistics do not count."""
    return ()


@changes_for.register
def _run_started(event: Run.Started) -> tuple[Change, ...]:
    # An ad hoc run (version 0) counts under its spec's name like any other.
    return (RunOpened(event.originator_id, event.tenant, event.workflow, event.timestamp),)


@changes_for.register
def _run_succeeded(event: Run.Succeeded) -> tuple[Change, ...]:
    return (RunClosed(event.originator_id, RunStatus.SUCCEEDED, event.timestamp),)


@changes_for.register
def _run_failed(event: Run.Failed) -> tuple[Change, ...]:
    return (RunClosed(event.originator_id, RunStatus.FAILED, event.timestamp),)


@changes_for.register
def _run_cancelled(event: Run.Cancelled) -> tuple[Change, ...]:
    return (RunClosed(event.originator_id, RunStatus.CANCELLED, event.timestamp),)


PROJECTED_TOPICS = frozenset(get_topic(kind) for kind in changes_for.registry if kind is not object)
"""The events that change the read model; every other event only advances its position."""
