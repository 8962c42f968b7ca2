"""The route table: every live route is documented, and every documented operation is served,
summarised, exemplified and answers with problem documents."""

from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.unit.test_http_builders import PROBLEM_JSON, a_client

UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}
DOCS = "/schema"


def live_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path template) of every route handler, the schema's own pages aside."""
    return {
        (method, route.path_format)
        for route in app.routes
        if isinstance(route, HTTPRoute) and not route.path_format.startswith(DOCS)
        for handler in route.route_handlers
        for method in handler.http_methods
        if method not in UNDOCUMENTED_METHODS
    }


def documented_operations(schema: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item}


def the_app_and_its_schema() -> tuple[Litestar, dict[str, Any]]:
    with a_client() as client:
        schema: dict[str, Any] = client.get("/schema/openapi.json").json()
        return client.app, schema


def operations() -> list[Any]:
    _, schema = the_app_and_its_schema()
    return [
        pytest.param(method.upper(), path, operation, id=f"{method.upper()} {path}")
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node` with a `$ref` (alone or as the single `allOf`) replaced by its component."""
    if len(node.get("allOf", [])) == 1:
        node = {**node, **node["allOf"][0]}
    ref = node.get("$ref")
    if isinstance(ref, str):
        found: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return {**found, **{k: v for k, v in node.items() if k not in ("$ref", "allOf")}}
    return node


def has_an_example(schema: dict[str, Any], media: dict[str, Any]) -> bool:
    """An example for the media type, or in its schema (see `shows_an_example`)."""
    if media.get("examples") or media.get("example"):
        return True
    return shows_an_example(schema, media.get("schema", {}), depth=3)


def shows_an_example(schema: dict[str, Any], node: dict[str, Any], depth: int) -> bool:
    """The schema has examples, or one of its fields or items does (a page of examples)."""
    node = resolved(schema, node)
    if node.get("examples") or depth == 0:
        return bool(node.get("examples"))
    parts = [*node.get("properties", {}).values(), *node.get("oneOf", [])]
    if "items" in node:
        parts.append(node["items"])
    return any(shows_an_example(schema, part, depth - 1) for part in parts)


def test_the_live_routes_are_exactly_the_documented_operations() -> None:
    app, schema = the_app_and_its_schema()

    assert live_routes(app) == documented_operations(schema)


def test_an_options_request_allows_every_method_of_its_path() -> None:
    _, schema = the_app_and_its_schema()
    with a_client() as client:
        for path, item in schema["paths"].items():
            concrete = (
                path.replace("{name}", "etl")
                .replace("{run_id}", "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10")
                .replace("{subscription_id}", "5f0c7d2e-3b8a-4d61-9e2f-1a7c4b9d0e35")
            )

            allowed = client.options(concrete).headers["allow"]

            assert set(allowed.split(", ")) == {m.upper() for m in item} | {"OPTIONS"}, path


@pytest.mark.parametrize(("method", "path", "operation"), operations())
def test_every_operation_is_summarised(method: str, path: str, operation: dict[str, Any]) -> None:
    assert operation.get("summary"), f"{method} {path}"
    assert operation.get("description"), f"{method} {path}"


@pytest.mark.parametrize(("method", "path", "operation"), operations())
def test_every_request_body_and_success_comes_with_an_example(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    _, schema = the_app_and_its_schema()
    bodies = [operation["requestBody"]] if "requestBody" in operation else []
    successes = [r for status, r in operation["responses"].items() if status.startswith("2")]

    media = [m for part in bodies + successes for m in part.get("content", {}).values()]

    assert successes, f"{method} {path} documents no success"
    assert all(has_an_example(schema, m) for m in media), f"{method} {path}"


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in operations() if not op.values[1].startswith("/health")],
)
def test_every_api_operation_documents_its_client_errors_as_problems(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    client_errors = {s: r for s, r in operation["responses"].items() if s.startswith("4")}

    assert {"400", "422"} <= set(client_errors), f"{method} {path}"
    for response in client_errors.values():
        assert set(response["content"]) == {PROBLEM_JSON}
        assert response["content"][PROBLEM_JSON]["examples"]
