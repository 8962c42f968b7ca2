"""Every error as RFC 9457 problem+json, mapped in one place from domain, HTTP and outage errors."""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import msgspec
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from litestar import Request, Response
from litestar.exceptions import HTTPException, InternalServerException, ValidationException
from litestar.params import ParameterKwarg
from litestar.types import ExceptionHandlersMap
from litestar.typing import FieldDefinition

from aggregates.errors import (
    DomainError,
    IdempotencyKeyReusedError,
    InvalidBackfillError,
    InvalidTriggerMessageError,
    InvalidWorkflowError,
    NoScheduleError,
    OutsideHistoryError,
    RunAlreadyFinishedError,
    RunNotFoundError,
    RunNotRetryableError,
    SubscriptionNotFoundError,
    WorkflowAlreadyExistsError,
    WorkflowNotFoundError,
    WorkflowRetiredError,
)
from engine.application import ContendedError
from gateways.http.limits import JSONTooDeepError, MalformedJSONError, UnsupportedBodyTypeError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPES = "https://ledgerflow.dev/problems/"
RETRY_AFTER_SECONDS = 1
SPEC_AT = "spec_at"
"""The key of a route's `opt` naming the body field that holds a workflow definition, so the
problems of its task graph are located in the body (`workflow.tasks[1].depends_on`)."""

_log = logging.getLogger(__name__)

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True)
class ProblemKind:
    """A family of errors: its status, its `type` URI slug (none: about:blank) and title."""

    status: int
    slug: str | None
    title: str

    @property
    def type(self) -> str:
        return "about:blank" if self.slug is None else f"{PROBLEM_TYPES}{self.slug}"


VALIDATION_FAILED = ProblemKind(422, "validation-failed", "The request is not valid")
INVALID_WORKFLOW = ProblemKind(422, "invalid-workflow", "The workflow definition is not valid")
DOMAIN_RULE = ProblemKind(422, "rule-broken", "The request breaks a rule")
MALFORMED_JSON = ProblemKind(400, "malformed-json", "The body is not valid JSON")
JSON_TOO_DEEP = ProblemKind(400, "json-too-deep", "The body nests too deeply")
UNSUPPORTED_MEDIA_TYPE = ProblemKind(415, "unsupported-media-type", "The body must be JSON")
BODY_TOO_LARGE = ProblemKind(413, "body-too-large", "The body is too large")
NOT_FOUND = ProblemKind(404, "not-found", "No such resource")
METHOD_NOT_ALLOWED = ProblemKind(405, "method-not-allowed", "Method not allowed")
UNAVAILABLE = ProblemKind(503, "unavailable", "A dependency is unavailable")
INTERNAL = ProblemKind(500, "internal-error", "Internal server error")

_DOMAIN_KINDS: dict[type[DomainError], ProblemKind] = {
    WorkflowNotFoundError: ProblemKind(404, "workflow-not-found", "Workflow not found"),
    RunNotFoundError: ProblemKind(404, "run-not-found", "Run not found"),
    SubscriptionNotFoundError: ProblemKind(404, "subscription-not-found", "Subscription not found"),
    NoScheduleError: ProblemKind(404, "schedule-not-found", "The workflow has no schedule"),
    WorkflowAlreadyExistsError: ProblemKind(409, "workflow-exists", "Workflow already exists"),
    WorkflowRetiredError: ProblemKind(409, "workflow-retired", "Workflow retired"),
    IdempotencyKeyReusedError: ProblemKind(
        409, "idempotency-key-reused", "Idempotency-Key reused with a different request"
    ),
    RunAlreadyFinishedError: ProblemKind(409, "run-finished", "Run already finished"),
    RunNotRetryableError: ProblemKind(409, "run-not-retryable", "Run cannot be retried"),
}
_HTTP_KINDS = {kind.status: kind for kind in (NOT_FOUND, METHOD_NOT_ALLOWED, BODY_TOO_LARGE)}

OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,  # eventsourcing's, pool exhaustion included
    InterfaceError,
    psycopg.OperationalError,  # psycopg_pool.PoolTimeout included
    psycopg.InterfaceError,
)
"""Errors that mean PostgreSQL cannot be reached now: 503, try again."""


def problem(
    kind: ProblemKind,
    detail: str,
    errors: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """An `application/problem+json` response; `errors` are (loc, msg) pairs."""
    body: dict[str, Any] = {
        "type": kind.type,
        "title": kind.title,
        "status": kind.status,
        "detail": _printable(detail),
    }
    if errors:
        body["errors"] = [{"loc": _printable(loc), "msg": _printable(msg)} for loc, msg in errors]
    return Response(
        body, status_code=kind.status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {})
    )


def exception_handlers(*, max_body_bytes: int) -> ExceptionHandlersMap:
    """The one map from exceptions to problems; the most specific class wins."""

    def body_too_large(request: AnyRequest, exc: HTTPException) -> Response[Any]:
        detail = f"the request body exceeds the limit of {max_body_bytes} bytes"
        return problem(BODY_TOO_LARGE, detail)

    def http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
        if exc.status_code == BODY_TOO_LARGE.status:
            return body_too_large(request, exc)
        return _http_error(request, exc)

    handlers: ExceptionHandlersMap = {
        ValidationException: _validation_failed,
        InternalServerException: _misfiled_validation_or_internal,
        HTTPException: http_error,
        InvalidWorkflowError: _invalid_workflow,
        InvalidBackfillError: _invalid_backfill,
        InvalidTriggerMessageError: _invalid_trigger_message,
        OutsideHistoryError: _outside_history,
        DomainError: _domain_error,
        UnsupportedBodyTypeError: _unsupported_body_type,
        MalformedJSONError: _malformed_json,
        JSONTooDeepError: _json_too_deep,
        Exception: _internal_error,
    }
    handlers.update(dict.fromkeys(OUTAGES, _unavailable))
    handlers[ContendedError] = _contended
    return handlers


def _validation_failed(request: AnyRequest, exc: ValidationException) -> Response[Any]:
    errors = _field_errors(request, exc)
    detail = f"{len(errors)} field(s) are not valid" if errors else exc.detail
    return problem(VALIDATION_FAILED, detail, errors)


def _misfiled_validation_or_internal(
    request: AnyRequest, exc: InternalServerException
) -> Response[Any]:
    # Litestar files a body error as a server error when the field shares its name with one
    # of the handler's dependencies (a body field `tenant` beside the `tenant` dependency).
    # None of our dependencies is validated by pydantic, so its errors are always the body's.
    errors = _pydantic_errors(exc.__cause__)
    if errors:
        return problem(VALIDATION_FAILED, f"{len(errors)} field(s) are not valid", errors)
    return _http_error(request, exc)


def _invalid_workflow(request: AnyRequest, exc: InvalidWorkflowError) -> Response[Any]:
    handler = request.scope.get("route_handler")
    field = handler.opt.get(SPEC_AT) if handler is not None else None
    errors = [(p.loc if field is None else f"{field}.{p.loc}", p.msg) for p in exc.problems]
    return problem(INVALID_WORKFLOW, f"{len(errors)} problem(s) in the task graph", errors)


def _outside_history(request: AnyRequest, exc: OutsideHistoryError) -> Response[Any]:
    errors = [(p.loc, p.msg) for p in exc.problems]
    return problem(VALIDATION_FAILED, f"{len(errors)} field(s) are not valid", errors)


def _invalid_backfill(request: AnyRequest, exc: InvalidBackfillError) -> Response[Any]:
    errors = [(p.loc, p.msg) for p in exc.problems]
    return problem(VALIDATION_FAILED, f"{len(errors)} field(s) are not valid", errors)


def _invalid_trigger_message(request: AnyRequest, exc: InvalidTriggerMessageError) -> Response[Any]:
    errors = [(p.loc, p.msg) for p in exc.problems]
    return problem(VALIDATION_FAILED, "the body is not a valid CloudEvent", errors)


def _domain_error(request: AnyRequest, exc: DomainError) -> Response[Any]:
    kind = next((k for cls, k in _DOMAIN_KINDS.items() if isinstance(exc, cls)), DOMAIN_RULE)
    return problem(kind, str(exc))


def _unsupported_body_type(request: AnyRequest, exc: UnsupportedBodyTypeError) -> Response[Any]:
    return problem(UNSUPPORTED_MEDIA_TYPE, str(exc), headers={"Accept-Post": "application/json"})


def _malformed_json(request: AnyRequest, exc: MalformedJSONError) -> Response[Any]:
    return problem(MALFORMED_JSON, str(exc))


def _json_too_deep(request: AnyRequest, exc: JSONTooDeepError) -> Response[Any]:
    return problem(JSON_TOO_DEEP, str(exc))


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == UNAVAILABLE.status:
        return _unavailable(request, exc)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return _internal_error(request, exc)
    phrase = HTTPStatus(status).phrase
    kind = _HTTP_KINDS.get(status) or ProblemKind(status, None, phrase)
    detail = exc.detail if exc.detail and exc.detail != phrase else kind.title
    return problem(kind, detail, headers=exc.headers)


def _unavailable(request: AnyRequest, exc: Exception) -> Response[Any]:
    _log.warning("PostgreSQL unavailable: %s", exc)
    return problem(
        UNAVAILABLE,
        "the event store cannot be reached; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _contended(request: AnyRequest, exc: Exception) -> Response[Any]:
    _log.warning("%s %s: %s", request.method, request.url.path, exc)
    return problem(
        UNAVAILABLE,
        "what the request changes kept changing under it; nothing was recorded, retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _internal_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    _log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(INTERNAL, "the server failed to handle the request; it has been logged")


def _field_errors(request: AnyRequest, exc: ValidationException) -> list[tuple[str, str]]:
    pydantic_errors = _pydantic_errors(exc.__cause__)
    if pydantic_errors is not None:
        return pydantic_errors
    extra = exc.extra if isinstance(exc.extra, list) else []
    parameters = _parameters(request)
    errors: list[tuple[str, str]] = []
    for item in extra:
        if not isinstance(item, Mapping):
            continue
        key, message = str(item.get("key", "")), str(item.get("message", "is not valid"))
        parameter = parameters.get(key)
        if message == repr(key):  # Litestar reports a missing value as the KeyError it caught,
            if parameter is not None and parameter.has_default:
                continue  # also for an absent optional body when another field is invalid
            message = "is required"
        errors.append(_located(key, message, parameter))
    return errors


def _pydantic_errors(cause: BaseException | None) -> list[tuple[str, str]] | None:
    # Litestar flattens a pydantic error's location to "tasks.1.depends_on"; the pydantic
    # errors it chains as the cause keep indexes apart from keys.
    errors = getattr(cause, "errors", None)
    if not isinstance(cause, msgspec.ValidationError) or not isinstance(errors, list):
        return None
    return [(render_loc(error["loc"]), _pydantic_message(error["msg"])) for error in errors]


def _located(key: str, message: str, parameter: FieldDefinition | None) -> tuple[str, str]:
    if key == "data":
        return "body", "a JSON body is required" if message == "is required" else message
    definition = parameter.kwarg_definition if parameter is not None else None
    if not isinstance(definition, ParameterKwarg):
        return key or "body", message
    if message.startswith("Expected `str` matching regex") and definition.description:
        message = f"must be {definition.description}"
    return definition.name or key, message


def _parameters(request: AnyRequest) -> Mapping[str, FieldDefinition]:
    handler = request.scope.get("route_handler")
    return handler.parsed_fn_signature.parameters if handler is not None else {}


def render_loc(parts: Sequence[str | int]) -> str:
    """`("tasks", 1, "depends_on")` -> `tasks[1].depends_on`; the whole body is `body`."""
    rendered = ""
    for part in parts:
        if isinstance(part, int):
            rendered += f"[{part}]"
        else:
            rendered += f".{part}" if rendered else str(part)
    return rendered or "body"


def _pydantic_message(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _printable(text: str) -> str:
    # A lone surrogate from the request cannot be encoded into the response: escape it.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
