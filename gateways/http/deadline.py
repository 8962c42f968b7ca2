"""A deadline on every HTTP request: a 503 with `Retry-After` once it passes, never a hang.

PostgreSQL's `statement_timeout` only bounds statements the server received. A server that
stops answering on open connections (a stalled disk, a network that drops packets) leaves a
handler's thread blocked in the client, and while PostgreSQL is down the event store retries
each call for seconds. The deadline answers the client in time whatever the handler is doing.
The handler is not interrupted (a thread cannot be): whatever it still records is a whole
transaction or nothing, so a client that retries with the same `Idempotency-Key` gets the one
run, and what the abandoned handler sends later is dropped.
"""

import asyncio
import json
import logging
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateways.http.problems import PROBLEM_MEDIA_TYPE, RETRY_AFTER_SECONDS, UNAVAILABLE

DEFAULT_DEADLINE_SECONDS = 12.0
"""Longer than the API's statement timeout (10 s), so a statement PostgreSQL cancels answers
with its own 503 first; the deadline catches what the server never sees."""

_log = logging.getLogger(__name__)


class RequestDeadline:
    """ASGI middleware: if no response has started `seconds` after the request arrived, the
    client gets a 503 problem with `Retry-After` and the handler's late answer is dropped.
    Responses that have started (a Server-Sent Events stream, say) run as long as they need."""

    def __init__(self, app: ASGIApp, seconds: float = DEFAULT_DEADLINE_SECONDS) -> None:
        self._app = app
        self._seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        started = abandoned = False

        async def send_unless_abandoned(message: Message) -> None:
            nonlocal started
            if abandoned:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        handling = asyncio.ensure_future(self._app(scope, receive, send_unless_abandoned))
        done, _ = await asyncio.wait({handling}, timeout=self._seconds)
        if done or started:
            await handling
            return
        abandoned = True  # no await since the check: the handler cannot start a response now
        handling.add_done_callback(_log_late_failure)
        _log.warning(
            "%s %s: no answer after %.0f s; answered 503",
            scope.get("method"),
            scope.get("path"),
            self._seconds,
        )
        await _unavailable(send, self._seconds)


async def _unavailable(send: Send, seconds: float) -> None:
    body = json.dumps(
        {
            "type": UNAVAILABLE.type,
            "title": UNAVAILABLE.title,
            "status": UNAVAILABLE.status,
            "detail": f"no answer from the event store within {seconds:.0f} s; retry shortly",
        }
    ).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    ]  # the app's before-send hooks add the request id, as to every response
    await send({"type": "http.response.start", "status": UNAVAILABLE.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _log_late_failure(handling: "asyncio.Future[Any]") -> None:
    if not handling.cancelled() and (error := handling.exception()) is not None:
        _log.warning("an abandoned request failed later: %r", error)
