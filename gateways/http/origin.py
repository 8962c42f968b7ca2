"""Who acts through a request, for which tenant, under which correlation id: a command's Origin."""

import re
from typing import Any
from uuid import uuid4

from litestar import Request
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.di import NamedDependency
from litestar.types import Message, Scope

from aggregates.names import DEFAULT_TENANT
from aggregates.provenance import Origin
from aggregates.trace_context import valid_traceparent
from engine.application import Ledgerflow

REQUEST_ID_HEADER = "X-Request-Id"
TRACEPARENT_HEADER = "traceparent"
ANONYMOUS = "anonymous"

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_STATE_KEY = "ledgerflow.correlation_id"


def correlation_id(scope: Scope) -> str:
    """The request's `X-Request-Id` if it is sane, else a new uuid4; one value per request."""
    state: dict[str, Any] = scope["state"]
    known = state.get(_STATE_KEY)
    if isinstance(known, str):
        return known
    offered = Headers.from_scope(scope).get(REQUEST_ID_HEADER)
    chosen = (
        offered if offered is not None and _SANE_REQUEST_ID.fullmatch(offered) else str(uuid4())
    )
    state[_STATE_KEY] = chosen
    return chosen


def echo_request_id(message: Message, scope: Scope) -> None:
    """A `before_send` hook: every response, errors included, carries the correlation id."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = correlation_id(scope)


def actor_of(request: Request[Any, Any, Any]) -> str:
    """Who the request acts as; authentication will answer with the verified principal."""
    return ANONYMOUS


def tenant_of(request: Request[Any, Any, Any]) -> str:
    """The tenant the request belongs to; authentication will take it from the principal."""
    return DEFAULT_TENANT


def origin_of(request: Request[Any, Any, Any], engine: NamedDependency[Ledgerflow]) -> Origin:
    """The provenance every event a request causes will carry: a valid `traceparent` header
    puts them in the caller's trace; without one (or with a malformed one, which W3C Trace
    Context says to ignore) the request starts a trace of its own."""
    offered = valid_traceparent(request.headers.get(TRACEPARENT_HEADER))
    return engine.origin(actor_of(request), correlation_id(request.scope), offered)
