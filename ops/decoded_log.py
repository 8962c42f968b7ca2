"""One decode of each notification of the log for all the followers of a process."""

import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, Notification, StoredEvent

DECODED_NOTIFICATIONS = 4096
"""Notifications whose events are kept: enough for every follower of an engine to meet each
one while it is still here (they read the log within a batch or two of each other)."""


class SharedDecodingMapper(Mapper[UUID]):
    """The library's mapper, remembering the event of each of the last notifications it decoded.

    An engine runs eight followers of one log (read models, dispatcher, relays, webhooks);
    each decoded every notification it read, the same JSON eight times. Events are immutable
    values, so every follower can be handed the same one. Only notifications (read from the
    log, with a position) are remembered: an aggregate's events read for a command are not.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoded: OrderedDict[int, DomainEventProtocol[UUID]] = OrderedDict()
        self._lock = threading.Lock()

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if not isinstance(stored_event, Notification):
            return super().to_domain_event(stored_event)
        event = self._decoded.get(stored_event.id)
        if event is None:
            event = super().to_domain_event(stored_event)
            with self._lock:
                self._decoded[stored_event.id] = event
                if len(self._decoded) > DECODED_NOTIFICATIONS:
                    self._decoded.popitem(last=False)
        return event
