"""The audit log: who did what, when, across a tenant's runs, workflows and workers."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.application import Application

from engine.event_types import ALL_EVENTS, topics_of
from engine.history import AuditedEventLog, AuditFilter, HistoryEntry, history_entry

_TOPICS = topics_of(ALL_EVENTS)


@dataclass(frozen=True)
class AuditQuery:
    """A page of the audit log: events after `after` (a log position) that match the filters."""

    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    types: Sequence[str] = ()
    """Flat event names (`RunCancelled`, `WorkflowRevised`...); all when empty."""
    after: int = 0
    limit: int = 50


class AuditReads(Application[UUID]):
    """The Ledgerflow Application's audit query (a mixin of `Ledgerflow`)."""

    def audit(self, tenant: str, query: AuditQuery) -> list[HistoryEntry]:
        """The tenant's events matching `query`, oldest first, read from the log itself."""
        log = self.recorder
        if not isinstance(log, AuditedEventLog):
            msg = f"{type(log).__name__} cannot list events by tenant"
            raise TypeError(msg)
        where = AuditFilter(
            actor=query.actor,
            since=query.since,
            until=query.until,
            topics=[_TOPICS[name] for name in query.types],
        )
        rows = log.select_audit_events(tenant, where, after_position=query.after, limit=query.limit)
        return [history_entry(position, self.mapper.to_domain_event(e)) for position, e in rows]
