"""Who caused an event, on whose behalf and when: the metadata every Ledgerflow event carries."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate, CanMutateAggregate


@dataclass(frozen=True)
class Origin:
    """The actor (API key, user or component), the correlation id and the time of a command."""

    actor: str
    correlation_id: str
    at: datetime


class AttributedAggregate(Aggregate):
    """An aggregate whose every event records its tenant, actor, correlation id and time.

    Commands run inside `_acting(origin)`; `trigger_event` adds the metadata, so the private
    mutators stay one-line state changes that need not repeat it.
    """

    class Event(Aggregate.Event):
        tenant: str
        actor: str
        correlation_id: str

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
        kwargs.update(
            tenant=self.tenant,
            actor=origin.actor,
            correlation_id=origin.correlation_id,
            timestamp=origin.at,
        )
        super().trigger_event(event_class, **kwargs)
