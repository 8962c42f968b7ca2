"""The workflows resource: register, apply (create, revise, restore), read and retire workflows."""

from typing import Annotated

from litestar import Controller, Response, delete, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, QueryParameter

from aggregates.provenance import Origin
from aggregates.spec import WorkflowSpec
from engine.application import Applied, Ledgerflow
from gateways.http.openapi import problem_responses
from gateways.http.pages import AsOf, invalid_query, query_instant
from gateways.http.paths import WorkflowName, workflow_path
from gateways.http.run_views import MAX_REASON_LENGTH
from gateways.http.workflow_views import SPEC_EXAMPLES, WorkflowApplied, WorkflowDefinition

SpecBody = Annotated[
    WorkflowSpec,
    Body(
        title="Workflow definition",
        description="A name and a DAG of tasks. Server-owned fields (`version`, `status`, "
        "`tenant`, `created_by`...) are refused.",
        examples=SPEC_EXAMPLES,
    ),
]
_LOCATION = ResponseHeader(
    name="Location",
    value="/v1/workflows/nightly-etl",
    documentation_only=True,
    description="The workflow's URL.",
)
_BODY_PROBLEMS = (413, 415)
_CREATED = ResponseSpec(
    data_container=WorkflowApplied,
    description="Created: version 1 of a new workflow (`applied` is `created`); `Location` is "
    "its URL.",
    generate_examples=False,
)

RetireReason = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        # msgspec checks patterns with `re.search`: this one refuses a NUL anywhere.
        pattern=r"^[^\x00]*$",
        description="1-1024 characters without NUL (why it is retired; kept in its "
        "`WorkflowRetired` event)",
        examples=[Example(summary="Why", value="replaced by nightly-etl-v2")],
    ),
]


class WorkflowController(Controller):
    """Workflow definitions: every change is a new version; runs pin the version they start on."""

    path = "/v1/workflows"
    tags = ["workflows"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        summary="Register a workflow",
        description="Registers version 1 of a new workflow. A name that exists, retired or "
        "not, is a 409: use `PUT /v1/workflows/{name}` to revise or restore it.",
        response_description="Registered; `Location` is the workflow's URL.",
        response_headers=[_LOCATION],
        responses=problem_responses(409, *_BODY_PROBLEMS),
    )
    def register(
        self,
        *,
        data: SpecBody,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
    ) -> Response[WorkflowApplied]:
        workflow = engine.register_workflow(tenant, data, origin)
        return Response(
            WorkflowApplied.of(workflow, Applied.CREATED),
            status_code=201,
            headers={"Location": workflow_path(workflow.name)},
        )

    @put(
        "/{name:str}",
        status_code=200,
        sync_to_thread=True,
        summary="Create or revise a workflow",
        description="The idempotent apply for deploy pipelines: creates the workflow (201), "
        "records a new version if the definition changed (200, `revised`), or changes "
        "nothing (200, `unchanged`). A retired workflow is restored at a new version, even "
        "with an unchanged definition (200, `revised`; `WorkflowRestored`). The name in the "
        "path must equal the body's `name`.",
        response_description="Revised or unchanged (201 when created).",
        responses={201: _CREATED, **problem_responses(*_BODY_PROBLEMS)},
    )
    def apply(
        self,
        *,
        name: WorkflowName,
        data: SpecBody,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
    ) -> Response[WorkflowApplied]:
        if data.name != name:
            raise ValidationException(
                detail="the body names another workflow",
                extra=[{"key": "name", "message": f"must equal the name in the path ({name})"}],
            )
        workflow, applied = engine.apply_workflow(tenant, data, origin)
        return Response(
            WorkflowApplied.of(workflow, applied),
            status_code=201 if applied is Applied.CREATED else 200,
            headers={"Location": workflow_path(workflow.name)},
        )

    @get(
        "/{name:str}",
        sync_to_thread=True,
        summary="Read a workflow definition, now or as it was",
        description="The definition at `version` (the current one by default); a retired "
        "workflow is still shown, with `retired: true`. With `as_of` (an RFC 3339 instant), "
        "the workflow as it stood then: the definition current at that instant and whether "
        "it was retired. An instant before it was registered, or `as_of` with `version`, is "
        "a 422 naming `as_of`.",
        responses=problem_responses(404),
    )
    def describe(
        self,
        *,
        name: WorkflowName,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        version: Annotated[
            int | None,
            QueryParameter(ge=1, description="A version; the current one if absent."),
        ] = None,
        as_of: AsOf = None,
    ) -> WorkflowDefinition:
        at = query_instant("as_of", as_of)
        if at is None:
            return WorkflowDefinition.of(engine.get_workflow(tenant, name), version)
        if version is not None:
            raise invalid_query("as_of", "give either as_of or version, not both")
        return WorkflowDefinition.of(engine.workflow_as_of(tenant, name, at), None)

    @delete(
        "/{name:str}",
        status_code=204,
        sync_to_thread=True,
        summary="Retire a workflow",
        description="A soft delete: records `WorkflowRetired` (with the optional `reason`). "
        "A retired workflow starts no more runs (409) and leaves `GET /v1/workflows` unless "
        "`include_retired=true`; its versions, its runs and their history stay readable "
        "(`GET /v1/workflows/{name}` shows `retired: true`). Retiring a retired workflow "
        "changes nothing (204 again). `PUT /v1/workflows/{name}` restores it; `POST` of its "
        "name stays a 409.",
        response_description="Retired (or already retired); no body.",
        responses=problem_responses(404),
    )
    def retire(
        self,
        *,
        name: WorkflowName,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        reason: RetireReason = None,
    ) -> None:
        engine.retire_workflow(tenant, name, reason, origin)
