"""The log read as CloudEvents, after a position and filtered, for the event relay and the API."""

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification

from aggregates.run import Run
from aggregates.workflow import Workflow
from engine.application import Ledgerflow
from engine.cloud_events import cloud_event, flat_type, source_of
from engine.event_types import ALL_EVENTS, topics_of
from engine.history import PositionedEventLog

EVENT_TOPICS = topics_of(ALL_EVENTS)
"""Flat name -> stored topic of every event the feed and the relay carry."""

READ_BATCH = 500
DEFAULT_SCAN_LIMIT = 5_000
"""Notifications one page reads at most: a filter that matches little ends the page early
(with `last_position`) rather than holding a request while it scans the whole log."""
_RUN_EVENTS_LIMIT = 100_000


@dataclass(frozen=True)
class FeedQuery:
    """Which events a reader wants: one tenant's, after a position, optionally narrowed."""

    tenant: str
    after: int = 0
    types: tuple[str, ...] = ()
    workflow: str | None = None
    run: UUID | None = None
    limit: int = 50


@dataclass(frozen=True)
class FeedItem:
    """One event: its position, its flat type and its CloudEvent."""

    position: int
    type: str
    cloud_event: dict[str, Any]


@dataclass(frozen=True)
class FeedPage:
    """Events in log order; `last_position` is where the next read continues after."""

    items: list[FeedItem]
    last_position: int
    at_head: bool
    """Whether the read reached the end of the log (nothing more to read just now)."""


class WorkflowNames:
    """The workflow a run or workflow aggregate belongs to, remembered (it never changes)."""

    def __init__(self, engine: Ledgerflow, capacity: int = 100_000) -> None:
        self._engine = engine
        self._capacity = capacity
        self._names: OrderedDict[UUID, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, event: Any) -> str | None:
        """The workflow's name for events of runs and workflows, else None."""
        if isinstance(event, Run.Started):
            return self._remember(event.originator_id, str(event.workflow))
        if isinstance(event, Workflow.Registered):
            return self._remember(event.originator_id, str(event.name))
        if not isinstance(event, (Run.Event, Workflow.Event)):
            return None
        with self._lock:
            if event.originator_id in self._names:
                self._names.move_to_end(event.originator_id)
                return self._names[event.originator_id]
        return self._remember(event.originator_id, self._first_named(event.originator_id))

    def _remember(self, aggregate_id: UUID, name: str | None) -> str | None:
        with self._lock:
            self._names[aggregate_id] = name
            self._names.move_to_end(aggregate_id)
            if len(self._names) > self._capacity:
                self._names.popitem(last=False)
        return name

    def _first_named(self, aggregate_id: UUID) -> str | None:
        try:
            first: Run | Workflow = self._engine.repository.get(aggregate_id, version=1)
        except AggregateNotFoundError:
            return None
        return str(first.workflow if isinstance(first, Run) else first.name)


class EventFeed:
    """Reads the engine's log as CloudEvents: the one mapping the relay and the API share."""

    def __init__(self, engine: Ledgerflow, *, scan_limit: int = DEFAULT_SCAN_LIMIT) -> None:
        self._engine = engine
        self._scan_limit = scan_limit
        self.source = source_of(engine.env.get("POSTGRES_SCHEMA") or "default")
        self.workflows = WorkflowNames(engine)

    def item(self, notification: Notification) -> FeedItem:
        """The CloudEvent of one notification of the log."""
        event = self._engine.mapper.to_domain_event(notification)
        return self.item_of(notification.id, event)

    def item_of(self, position: int, event: object) -> FeedItem:
        envelope = cloud_event(
            position, event, source=self.source, workflow=self.workflows.of(event)
        )
        return FeedItem(position=position, type=flat_type(event), cloud_event=envelope)

    def head(self) -> int:
        """The log's last position (0 when empty)."""
        return self._engine.recorder.max_notification_id() or 0

    def page(self, query: FeedQuery) -> FeedPage:
        """Up to `query.limit` matching events after `query.after`, oldest first."""
        if query.run is not None:
            return self._run_page(query, query.run)
        topics = [EVENT_TOPICS[name] for name in query.types] or list(EVENT_TOPICS.values())
        items: list[FeedItem] = []
        position, scanned = query.after, 0
        while scanned < self._scan_limit:
            batch = self._engine.recorder.select_notifications(
                start=position, limit=READ_BATCH, topics=topics, inclusive_of_start=False
            )
            for notification in batch:
                position = notification.id
                item = self._matching(query, notification)
                if item is not None:
                    items.append(item)
                    if len(items) == query.limit:
                        return FeedPage(items, position, at_head=False)
            scanned += len(batch)
            if len(batch) < READ_BATCH:
                return FeedPage(items, position, at_head=True)
        return FeedPage(items, position, at_head=False)

    def _matching(self, query: FeedQuery, notification: Notification) -> FeedItem | None:
        event: Any = self._engine.mapper.to_domain_event(notification)
        if event.tenant != query.tenant:
            return None
        if query.workflow is not None and self.workflows.of(event) != query.workflow:
            return None
        return self.item_of(notification.id, event)

    def _run_page(self, query: FeedQuery, run_id: UUID) -> FeedPage:
        """A run's events come from its own rows (few), not from a scan of the whole log."""
        log = self._engine.recorder
        if not isinstance(log, PositionedEventLog):
            msg = f"{type(log).__name__} cannot report event positions"
            raise TypeError(msg)
        rows: Sequence[tuple[int, Any]] = log.select_positioned_events(
            run_id, after_version=0, limit=_RUN_EVENTS_LIMIT
        )
        wanted = set(query.types)
        items: list[FeedItem] = []
        for position, stored in rows:
            if position <= query.after:
                continue
            event: Any = self._engine.mapper.to_domain_event(stored)
            if event.tenant != query.tenant or (wanted and flat_type(event) not in wanted):
                continue
            if query.workflow is not None and self.workflows.of(event) != query.workflow:
                continue
            items.append(self.item_of(position, event))
            if len(items) == query.limit:
                return FeedPage(items, position, at_head=False)
        return FeedPage(items, items[-1].position if items else query.after, at_head=True)
