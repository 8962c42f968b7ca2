"""The `Allow` header of an OPTIONS answer: every method its path serves, not just the first.

Litestar 2 builds a path's OPTIONS handler when the path's first handler is registered, and
that handler keeps answering with the methods known then (litestar-org/litestar#4169, fixed
in Litestar 3): `OPTIONS /v1/workflows/{name}` listed `OPTIONS, PUT` without `GET`.
"""

from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


def allow_every_method(message: Message, scope: Scope) -> None:
    """A `before_send` hook: an OPTIONS answer lists the methods of its path's final route."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = MutableScopeHeaders.from_message(message)
    if "allow" not in headers:
        return
    template = scope.get("path_template")
    for route in scope["litestar_app"].routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            headers["Allow"] = ", ".join(sorted(route.methods))
            return
