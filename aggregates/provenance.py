"""Who caused an event, on whose behalf and when: the metadata every Ledgerflow event carries."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate, CanMutateAggregate

from aggregates.trace_context import new_traceparent


@dataclass(frozen=True)
class Origin:
    """The actor (API key, user or component), the correlation id, the time and the trace of a
    command; without a trace to join, the command starts one."""

    actor: str
    correlation_id: str
    at: datetime
    traceparent: str = field(default_factory=new_traceparent)

    @classmethod
    def joining(
        cls, actor: str, correlation_id: str, at: datetime, traceparent: str | None
    ) -> "Origin":
        """An origin in the trace `traceparent`, or in a new trace if there is none."""
        if traceparent is None:
            return cls(actor, correlation_id, at)
        return cls(actor, correlation_id, at, traceparent)

    def provenance(self, tenant: str) -> dict[str, Any]:
        """The metadata fields of an aggregate's created event, for `Aggregate._create`."""
        return {
            "tenant": tenant,
            "actor": self.actor,
            "correlation_id": self.correlation_id,
            "timestamp": self.at,
            "traceparent": self.traceparent,
        }


class AttributedAggregate(Aggregate):
    """An aggregate whose every event records its tenant, actor, correlation id, time and trace.

    Commands run inside `_acting(origin)`; `trigger_event` adds the metadata, so the private
    mutators stay one-line state changes that need not repeat it.
    """

    class Event(Aggregate.Event):
        tenant: str
        actor: str
        correlation_id: str
        traceparent: str
        """Events stored before traces were recorded have none: read it with `vars(e).get`."""

    # Plain class attributes, not annotations: eventsourcing turns an aggregate's annotated
    # class attributes into constructor arguments of its created event.
    _origin = None

    if TYPE_CHECKING:
        tenant: str

    @contextmanager
    def _acting(self, origin: Origin) -> Iterator[None]:
        self._origin = origin
        try:
            yield
        finally:
            self._origin = None

    def trigger_event(self, event_class: type[CanMutateAggregate[Any]], **kwargs: Any) -> None:
        origin: Origin | None = self._origin
        if origin is None:
            msg = f"{type(self).__name__} events need an origin: call commands, not mutators"
            raise RuntimeError(msg)
        kwargs.update(origin.provenance(self.tenant))
        super().trigger_event(event_class, **kwargs)
