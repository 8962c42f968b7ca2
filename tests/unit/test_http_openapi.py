"""The OpenAPI document: every route, summarised, described, with examples and problem responses."""

from typing import Any

import pytest

from tests.unit.test_http_builders import PROBLEM_JSON, Client, a_client

ROUTES = [
    ("post", "/v1/workflows"),
    ("get", "/v1/workflows"),
    ("put", "/v1/workflows/{name}"),
    ("get", "/v1/workflows/{name}"),
    ("delete", "/v1/workflows/{name}"),
    ("post", "/v1/workflows/{name}/runs"),
    ("get", "/v1/workflows/{name}/statistics"),
    ("get", "/v1/workflows/{name}/schedule"),
    ("post", "/v1/workflows/{name}/schedule/pause"),
    ("post", "/v1/workflows/{name}/schedule/resume"),
    ("post", "/v1/workflows/{name}/backfill"),
    ("get", "/v1/runs"),
    ("post", "/v1/runs"),
    ("get", "/v1/runs/{run_id}"),
    ("get", "/v1/runs/{run_id}/tasks"),
    ("get", "/v1/runs/{run_id}/events"),
    ("get", "/v1/runs/{run_id}/timeline"),
    ("post", "/v1/runs/{run_id}/cancel"),
    ("post", "/v1/runs/{run_id}/retry"),
    ("post", "/v1/runs/{run_id}/fork"),
    ("get", "/v1/workers"),
    ("get", "/v1/projections"),
    ("get", "/v1/audit"),
    ("get", "/v1/events"),
    ("get", "/v1/events/schemas"),
    ("post", "/v1/events/ingest"),
    ("post", "/v1/subscriptions"),
    ("get", "/v1/subscriptions"),
    ("get", "/v1/subscriptions/{subscription_id}"),
    ("delete", "/v1/subscriptions/{subscription_id}"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
]


def the_schema(client: Client) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def test_the_schema_lists_exactly_the_apis_routes() -> None:
    with a_client() as client:
        paths = the_schema(client)["paths"]

        listed = {(method, path) for path, item in paths.items() for method in item}

        assert listed == set(ROUTES)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_has_a_summary_and_a_description(method: str, path: str) -> None:
    with a_client() as client:
        operation = the_schema(client)["paths"][path][method]

        assert operation["summary"]
        assert operation["description"]


@pytest.mark.parametrize(
    ("method", "path"), [route for route in ROUTES if not route[1].startswith("/health")]
)
def test_every_api_route_documents_its_errors_as_problem_json(method: str, path: str) -> None:
    with a_client() as client:
        responses = the_schema(client)["paths"][path][method]["responses"]

        for status in ("400", "422", "500", "503"):
            assert set(responses[status]["content"]) == {PROBLEM_JSON}
            assert responses[status]["content"][PROBLEM_JSON]["examples"]


@pytest.mark.parametrize(
    "path", ["/v1/workflows", "/v1/workflows/{name}", "/v1/workflows/{name}/runs", "/v1/runs"]
)
def test_request_bodies_come_with_examples(path: str) -> None:
    with a_client() as client:
        operations = the_schema(client)["paths"][path]

        bodies = [op["requestBody"] for op in operations.values() if "requestBody" in op]

        assert bodies
        assert all(body["content"]["application/json"]["schema"]["examples"] for body in bodies)


def test_response_models_come_with_examples() -> None:
    with a_client() as client:
        schemas = the_schema(client)["components"]["schemas"]

        run = schemas["RunView"]["properties"]

        assert run["workflow"]["examples"] == ["nightly-etl"]


def test_swagger_ui_is_served() -> None:
    with a_client() as client:
        response = client.get("/schema/swagger")

        assert response.status_code == 200
        assert "swagger" in response.text.lower()


@pytest.mark.parametrize(
    ("path", "required"),
    [
        ("/v1/workflows", True),
        ("/v1/workflows/{name}/runs", False),
        ("/v1/runs", True),
        ("/v1/runs/{run_id}/cancel", False),
    ],
)
def test_only_the_bodies_a_route_needs_are_marked_required(path: str, required: bool) -> None:
    with a_client() as client:
        operation = the_schema(client)["paths"][path]["post"]

        assert operation["requestBody"]["required"] is required


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("delete", "/v1/workflows/{name}", {"204", "400", "404", "422", "500", "503"}),
        ("post", "/v1/runs", {"200", "202", "400", "409", "413", "415", "422", "500", "503"}),
    ],
)
def test_retiring_and_ad_hoc_runs_document_every_status_they_answer(
    method: str, path: str, statuses: set[str]
) -> None:
    with a_client() as client:
        operation = the_schema(client)["paths"][path][method]

        assert statuses <= set(operation["responses"])
