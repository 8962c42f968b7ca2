"""Reading the past: a run's recorded history, and a run or workflow as it stood at a version
or an instant, rebuilt from its events."""

from collections.abc import Sequence
from datetime import datetime
from itertools import takewhile
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from aggregates.errors import OutsideHistoryError, RunNotFoundError, WorkflowNotFoundError
from aggregates.names import workflow_id
from aggregates.run import Run
from aggregates.workflow import Workflow
from engine.event_types import RUN_EVENTS, topics_of
from engine.history import HistoryEntry, PositionedEventLog, history_entry
from engine.timeline import Timeline, timeline

_RUN_TOPICS = topics_of(RUN_EVENTS)
_PAGE = 1000


class PastReads(Application[UUID]):
    """The Ledgerflow Application's queries of history (a mixin of `Ledgerflow`)."""

    def run_history(
        self,
        tenant: str,
        run_id: UUID,
        *,
        after_version: int = 0,
        limit: int = 500,
        types: Sequence[str] = (),
    ) -> list[HistoryEntry]:
        """The run's events in order (of the flat `types` only, unless empty), with their
        global positions and metadata."""
        self._run_events(tenant, run_id, limit=1)
        log = self.recorder
        if not isinstance(log, PositionedEventLog):
            msg = f"{type(log).__name__} cannot report event positions"
            raise TypeError(msg)
        topics = [_RUN_TOPICS[name] for name in types]
        rows = log.select_positioned_events(
            run_id, after_version=after_version, limit=limit, topics=topics
        )
        return [history_entry(position, self.mapper.to_domain_event(e)) for position, e in rows]

    def run_timeline(self, tenant: str, run_id: UUID) -> Timeline:
        """The run's whole history told as steps, with each task's waiting and running time."""
        entries: list[HistoryEntry] = []
        while True:
            after = entries[-1].version if entries else 0
            page = self.run_history(tenant, run_id, after_version=after, limit=_PAGE)
            entries += page
            if len(page) < _PAGE:
                return timeline(entries)

    def run_as_of(
        self, tenant: str, run_id: UUID, *, version: int | None = None, at: datetime | None = None
    ) -> Run:
        """The run after its `version`-th event, or as it stood at the instant `at`.

        A version outside 1..head, or an instant before the run started, is an
        `OutsideHistoryError` naming `as_of_version` or `as_of`.
        """
        events = self._run_events(tenant, run_id)
        if at is not None:
            version = _version_at(events, at, "the run was started")
        elif version is not None and not 1 <= version <= len(events):
            msg = f"must be from 1 to {len(events)} (the run's latest version)"
            raise OutsideHistoryError("as_of_version", msg)
        run: Run = self.repository.get(run_id, version=version)
        return run

    def workflow_as_of(self, tenant: str, name: str, at: datetime) -> Workflow:
        """The workflow as it stood at the instant `at` (its definition current then)."""
        aggregate_id = workflow_id(tenant, name)
        events = list(self.repository.event_store.get(aggregate_id))
        if not events:
            raise WorkflowNotFoundError(name)
        version = _version_at(events, at, "the workflow was registered")
        workflow: Workflow = self.repository.get(aggregate_id, version=version)
        return workflow

    def _run_events(self, tenant: str, run_id: UUID, limit: int | None = None) -> list[Any]:
        """The run's (first `limit`) events; another tenant's run does not exist for this
        tenant (404)."""
        events = list(self.repository.event_store.get(run_id, limit=limit))
        if not events or not isinstance(events[0], Run.Started) or events[0].tenant != tenant:
            raise RunNotFoundError(run_id)
        return events


def _version_at(events: Sequence[Any], at: datetime, since: str) -> int:
    """The version of the last of `events` recorded at or before `at`."""
    version = sum(1 for _ in takewhile(lambda event: event.timestamp <= at, events))
    if version == 0:
        first = events[0].timestamp.isoformat()
        raise OutsideHistoryError("as_of", f"is before {since} ({first})")
    return version
