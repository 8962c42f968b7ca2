"""The event relay: follows the log and publishes each domain event as a CloudEvent on JetStream."""

import asyncio
import json
from collections.abc import Sequence
from typing import cast

from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from nats.js import JetStreamContext

from engine.application import Ledgerflow
from engine.cloud_events import cloud_event_id, type_parts
from engine.event_feed import EVENT_TOPICS, EventFeed, FeedItem
from projections.follower import STANDBY_POLL_SECONDS, TrackedFollower
from streams.ordered_publisher import OrderedPublisher, Outbound
from streams.subjects import Subjects
from streams.topology import MAX_MESSAGE_BYTES

RELAY_NAME = "event-relay"
DEFAULT_BATCH_SIZE = 500
LINGER_SECONDS = 0.02
"""How long a batch waits for more events to join it. Publishing at every commit put the relay
on the path of every run's next step (the engine's dispatch and recording share its process);
20 ms later, a run's events go out together, in one commit of the position."""
HEADER_ROOM_BYTES = 1024
"""Room left in a NATS message for its headers (`Nats-Msg-Id`, `Nats-Expected-Last-Msg-Id`)."""


class EventRelay:
    """Publishes each event of the log, in log order, to `ledgerflow.events.<tenant>.<aggregate>.
    <event>` as a structured CloudEvent whose id (`ledgerflow-<position>`) is its `Nats-Msg-Id`.

    Single-active behind an advisory lock (like the projections), tracking its position in its
    own table: a batch's position is recorded only after JetStream stored every message of it,
    so a crash re-publishes at most the last batch, which JetStream de-duplicates inside its
    window (and consumers can by `id` beyond it). Events too large for one message are
    published without `data`, with a `dataref` to the API.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        tracking: PostgresTrackingRecorder,
        js: JetStreamContext,
        subjects: Subjects,
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        batch_size: int = DEFAULT_BATCH_SIZE,
        standby_poll_seconds: float = STANDBY_POLL_SECONDS,
    ) -> None:
        self._feed = EventFeed(engine)
        self._subjects = subjects
        self._tracking = tracking
        self._application_name = engine.name
        self._max_payload = max_message_bytes - HEADER_ROOM_BYTES
        self.publisher = OrderedPublisher(js)
        self._last: tuple[int, str | None] = (0, None)
        """(position, id of the last message stored up to it), to chain the next batch."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._follower = TrackedFollower(
            RELAY_NAME,
            log=engine.recorder,
            decode=self._outbound,
            topics=EVENT_TOPICS.values(),
            apply_batch=self._apply_batch,
            tracked_position=self.tracked_position,
            datastore=tracking.datastore,
            application_name=engine.name,
            batch_size=batch_size,
            standby_poll_seconds=standby_poll_seconds,
            linger_seconds=LINGER_SECONDS,
        )

    @property
    def position(self) -> int:
        """The last position this replica relayed (in memory)."""
        return self._follower.position

    @property
    def active(self) -> bool:
        """Whether this replica holds the relay's lock."""
        return self._follower.active

    def tracked_position(self) -> int:
        """The last position recorded as relayed (0 before the first)."""
        return self._tracking.max_tracking_id(self._application_name) or 0

    async def run(self, stop: asyncio.Event) -> None:
        """Relay (or stand by for another replica) until `stop` is set."""
        self._loop = asyncio.get_running_loop()
        await self._follower.run(stop)

    def _outbound(self, notification: Notification) -> Outbound:
        return outbound(self._feed.item(notification), self._subjects, self._max_payload)

    def _apply_batch(self, messages: Sequence[object], tracking: Tracking, previous: int) -> bool:
        """In the follower's thread: publish on the event loop, then record the position."""
        loop = self._loop
        if loop is None:
            msg = "the relay publishes only while it runs"
            raise RuntimeError(msg)
        batch = cast(Sequence[Outbound], messages)
        after = self._last[1] if self._last[0] == previous else _id_at(previous)
        if batch:
            asyncio.run_coroutine_threadsafe(self.publisher.publish(batch, after), loop).result()
            after = batch[-1].message_id
        self._tracking.insert_tracking(tracking)
        self._last = (tracking.notification_id, after)
        return True


def outbound(item: FeedItem, subjects: Subjects, max_payload: int) -> Outbound:
    """The message of one event; its `data` is left out (`dataref` instead) if too large."""
    envelope = item.cloud_event
    payload = _encoded(envelope)
    if len(payload) > max_payload:
        envelope = {key: value for key, value in envelope.items() if key != "data"}
        envelope["dataref"] = f"/v1/events?after={item.position - 1}&limit=1"
        payload = _encoded(envelope)
    aggregate, event = type_parts(str(envelope["type"]))
    return Outbound(
        subject=subjects.events(str(envelope["tenant"]), aggregate, event),
        message_id=str(envelope["id"]),
        payload=payload,
    )


def _encoded(envelope: dict[str, object]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _id_at(position: int) -> str | None:
    return cloud_event_id(position) if position > 0 else None
