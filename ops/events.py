"""Outbound events in the composition root: the relay `engine` runs, and `events republish`."""

import asyncio
import sys
from typing import TextIO

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from engine.application import Ledgerflow
from engine.event_feed import EVENT_TOPICS, EventFeed
from ops.settings import Settings
from ops.system import EVENT_RELAY_TRACKING_TABLE, build_engine, build_tracking, connect_nats
from streams.event_relay import HEADER_ROOM_BYTES, EventRelay, outbound
from streams.ordered_publisher import OrderedPublisher
from streams.subjects import Subjects
from streams.topology import MAX_MESSAGE_BYTES, EventsRetention, declare_events_stream

REPUBLISH_BATCH = 500


def events_retention(settings: Settings) -> EventsRetention:
    return EventsRetention(
        max_age_seconds=settings.events_max_age_seconds, max_bytes=settings.events_max_bytes
    )


def max_message_bytes(nc: NatsClient) -> int:
    """The largest message the stream and the server both take."""
    return min(MAX_MESSAGE_BYTES, nc.max_payload)


async def build_event_relay(
    engine: Ledgerflow, nc: NatsClient, js: JetStreamContext, settings: Settings
) -> EventRelay:
    """Declare the events stream with the configured retention, and the relay that fills it."""
    subjects = Subjects(settings.nats_prefix)
    await declare_events_stream(js, subjects, events_retention(settings))
    return EventRelay(
        engine,
        build_tracking(engine, EVENT_RELAY_TRACKING_TABLE),
        js,
        subjects,
        max_message_bytes=max_message_bytes(nc),
    )


def events_republish(settings: Settings, start: int, out: TextIO = sys.stdout) -> int:
    """Publish the log's events from position `start` (inclusive) up to its current head.

    Messages still inside the stream's duplicate window are de-duplicated by their ids; beyond
    it they are stored again (consumers de-duplicate by CloudEvent `id`). The relay's tracked
    position does not move.
    """
    return asyncio.run(_republish(settings, start, out))


async def _republish(settings: Settings, start: int, out: TextIO) -> int:
    engine = build_engine(settings)
    nc = await connect_nats(settings, "events-republish")
    try:
        subjects = Subjects(settings.nats_prefix)
        js = nc.jetstream()
        await declare_events_stream(js, subjects, events_retention(settings))
        feed, publisher = EventFeed(engine), OrderedPublisher(js)
        limit = max_message_bytes(nc) - HEADER_ROOM_BYTES
        head = await asyncio.to_thread(feed.head)
        position, after, count = max(start, 1) - 1, None, 0
        while position < head:
            batch = await asyncio.to_thread(
                engine.recorder.select_notifications,
                position,
                REPUBLISH_BATCH,
                head,
                list(EVENT_TOPICS.values()),
                inclusive_of_start=False,
            )
            if not batch:
                break
            messages = [outbound(feed.item(n), subjects, limit) for n in batch]
            await publisher.publish(messages, after)
            after, position, count = messages[-1].message_id, batch[-1].id, count + len(batch)
        out.write(
            f"republished {count} event(s) from position {start} to {head}: "
            f"{publisher.stored} stored, {publisher.duplicates} already in the stream\n"
        )
    finally:
        await nc.drain()
        engine.close()
    return 0
