"""The API's OpenAPI document: its configuration and the problem responses each route declares."""

from dataclasses import dataclass
from typing import Annotated

from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Example, Operation, RequestBody, Tag
from pydantic import BaseModel, Field

from gateways.http.problems import (
    BODY_TOO_LARGE,
    INTERNAL,
    MALFORMED_JSON,
    METHOD_NOT_ALLOWED,
    PROBLEM_MEDIA_TYPE,
    UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_FAILED,
    ProblemKind,
)

_DESCRIPTION = """\
Submit workflows (DAGs of tasks), start runs and read their event-sourced history.

Every error is RFC 9457 `application/problem+json`; validation errors (422) list each
field in `errors` as `{"loc": "tasks[1].depends_on", "msg": "..."}`. A sane `X-Request-Id`
request header (up to 128 of `[A-Za-z0-9._:-]`) becomes the correlation id of the events
the request records; otherwise a new one is made. Either way it is echoed in the response.
A valid W3C `traceparent` header puts those events in the caller's trace (`trace_id` in
histories, the `traceparent` extension of CloudEvents); without one each request starts a
trace, which the run's later events (worker results, retries, timeouts) carry too.

Limits: bodies up to 1 MiB (413), JSON nested at most 64 levels (400), run inputs up to
256 KiB (422), names of 1-64 characters of `[A-Za-z0-9_-]` starting with a letter or digit.
"""


class FieldProblem(BaseModel):
    """One invalid field of the request."""

    loc: Annotated[str, Field(examples=["tasks[1].depends_on"])]
    msg: Annotated[str, Field(examples=["unknown task 'extrac'"])]


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: Annotated[str, Field(examples=["https://ledgerflow.dev/problems/invalid-workflow"])]
    title: Annotated[str, Field(examples=["The workflow definition is not valid"])]
    status: Annotated[int, Field(examples=[422])]
    detail: Annotated[str, Field(examples=["1 problem(s) in the task graph"])]
    errors: Annotated[
        list[FieldProblem] | None, Field(description="The invalid fields, for 422s.")
    ] = None


_RUN_ID = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"
_WHEN: dict[int, str] = {
    400: "A malformed request: invalid JSON, or JSON nested deeper than 64 levels.",
    404: "The workflow or run does not exist (for this tenant).",
    405: "The method is not allowed here; `Allow` lists those that are.",
    409: "Conflicts with the current state (see `type`): the name exists, the workflow is "
    "retired, the Idempotency-Key was used for another request, or the run has finished.",
    413: "The body is larger than the limit (1 MiB).",
    415: "The body is not `application/json`.",
    422: "The request is not valid; `errors` names each invalid field.",
    500: "An unexpected error; it was logged, nothing about it is disclosed.",
    503: "PostgreSQL cannot be reached; retry after `Retry-After` seconds.",
}

_EXAMPLES: dict[int, tuple[ProblemKind, str]] = {
    400: (MALFORMED_JSON, "the body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    404: (ProblemKind(404, "run-not-found", "Run not found"), f"run {_RUN_ID} not found"),
    405: (METHOD_NOT_ALLOWED, "Method not allowed"),
    409: (ProblemKind(409, "workflow-exists", "Workflow already exists"), "workflow 'etl' exists"),
    413: (BODY_TOO_LARGE, "the request body exceeds the limit of 1048576 bytes"),
    415: (UNSUPPORTED_MEDIA_TYPE, "the body must be application/json, not text/plain"),
    422: (VALIDATION_FAILED, "1 field(s) are not valid"),
    500: (INTERNAL, "the server failed to handle the request; it has been logged"),
    503: (UNAVAILABLE, "the event store cannot be reached; retry shortly"),
}
_FIELD_ERRORS = [{"loc": "tasks[1].depends_on[0]", "msg": "String should match pattern '...'"}]


_ANY_ROUTE = (400, 422, 500, 503)


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a route answers with, besides 400, 422, 500 and 503.

    They replace the 400 Litestar documents for its own (remapped) validation error body.
    """
    return {status: _problem_response(status) for status in sorted({*_ANY_ROUTE, *statuses})}


def _problem_response(status: int) -> ResponseSpec:
    kind, detail = _EXAMPLES[status]
    example: dict[str, object] = {
        "type": kind.type,
        "title": kind.title,
        "status": status,
        "detail": detail,
    }
    if status == VALIDATION_FAILED.status:
        example["errors"] = _FIELD_ERRORS
    return ResponseSpec(
        data_container=Problem,
        description=_WHEN[status],
        media_type=PROBLEM_MEDIA_TYPE,
        examples=[Example(summary=kind.title, value=example)],
        generate_examples=False,
    )


@dataclass
class OptionalBodyOperation(Operation):
    """An operation whose body may be left out (Litestar marks every request body required)."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


def openapi_config() -> OpenAPIConfig:
    """OpenAPI 3.1 at `/schema/openapi.json`, Swagger UI at `/schema/swagger`."""
    return OpenAPIConfig(
        title="Ledgerflow API",
        version="1",
        description=_DESCRIPTION,
        path="/schema",
        render_plugins=[SwaggerRenderPlugin()],
        tags=[
            Tag(name="workflows", description="Versioned workflow definitions."),
            Tag(name="runs", description="Executions of workflows and their history."),
            Tag(name="health", description="Liveness and readiness probes."),
            Tag(name="projections", description="The read models' lag behind the event log."),
            Tag(name="audit", description="Who did what and when, from the event log."),
        ],
    )
