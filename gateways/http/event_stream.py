"""Server-Sent Events of the log: the backlog after a position, then each event as it commits."""

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field, replace

import anyio
from litestar.background_tasks import BackgroundTask
from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.response import ServerSentEvent, ServerSentEventMessage

from engine.event_feed import EventFeed, FeedQuery
from gateways.http.event_views import CLOUD_EVENT_EXAMPLE, sse_data

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
RECONNECT_MILLISECONDS = 2000
_STREAM_EXAMPLE = (
    ": ledgerflow events\nretry: 2000\n\n"
    f"id: 1204\nevent: TaskSucceeded\ndata: {json.dumps(CLOUD_EVENT_EXAMPLE)}\n\n"
    ": keep-alive\n\n"
)


@dataclass
class EventStreaming:
    """How Server-Sent Event responses follow the log, and the signal that ends them all."""

    poll_seconds: float = 0.25
    """How often an idle stream looks for newly committed events."""
    keepalive_seconds: float = 15.0
    """How long an idle stream waits before it sends a comment (proxies drop silent streams)."""
    batch: int = 200
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server shuts down: every stream sends what it has and ends."""
    open_streams: int = 0

    def close(self) -> None:
        self.closing.set()


def event_stream(feed: EventFeed, query: FeedQuery, streaming: EventStreaming) -> ServerSentEvent:
    """The `text/event-stream` response: `id:` the position, `event:` the flat type, `data:`
    the CloudEvent; it ends when the client goes away or the server shuts down."""
    messages = _messages(feed, query, streaming)
    return ServerSentEvent(
        messages,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # A client that goes away cancels the response while the generator may be parked at a
        # `yield`; closing it afterwards ends it now rather than whenever it is collected.
        background=BackgroundTask(_close, messages),
    )


async def _close(messages: AsyncGenerator[ServerSentEventMessage, None]) -> None:
    await messages.aclose()


async def _messages(
    feed: EventFeed, query: FeedQuery, streaming: EventStreaming
) -> AsyncGenerator[ServerSentEventMessage, None]:
    streaming.open_streams += 1
    try:
        yield ServerSentEventMessage(
            data=None, comment="ledgerflow events", retry=RECONNECT_MILLISECONDS
        )
        async for message in _follow(feed, query, streaming):
            yield message
    finally:  # also when the client disconnected and Litestar cancelled the response
        streaming.open_streams -= 1


async def _follow(
    feed: EventFeed, query: FeedQuery, streaming: EventStreaming
) -> AsyncIterator[ServerSentEventMessage]:
    clock = asyncio.get_running_loop().time
    after, quiet_since = query.after, clock()
    while True:
        try:
            page = await anyio.to_thread.run_sync(
                feed.page, replace(query, after=after, limit=streaming.batch)
            )
        except Exception as error:  # the response has started: no problem document can follow
            logger.warning("event stream ended: the log cannot be read: %s", error)
            return
        for item in page.items:
            yield ServerSentEventMessage(id=item.position, event=item.type, data=sse_data(item))
        after = page.last_position
        if page.items:
            quiet_since = clock()
        if not page.at_head:
            continue
        if streaming.closing.is_set():
            return
        if clock() - quiet_since >= streaming.keepalive_seconds:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            quiet_since = clock()
        with suppress(TimeoutError):
            await asyncio.wait_for(streaming.closing.wait(), streaming.poll_seconds)


@dataclass
class EventStreamOperation(Operation):
    """`GET /v1/events`: its 200 is JSON, or `text/event-stream` when the client accepts that."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content[EVENT_STREAM] = OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.STRING,
                    description="Server-Sent Events: `id:` the log position, `event:` the flat "
                    "type, `data:` the CloudEvent (JSON); comments keep the connection alive.",
                ),
                examples={"stream": Example(summary="A stream", value=_STREAM_EXAMPLE)},
            )
