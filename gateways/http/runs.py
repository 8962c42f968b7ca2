"""The runs resource: start a run (of a workflow or ad hoc), read (now or as of the past),
cancel, retry and fork."""

from typing import Annotated

import anyio.to_thread
from litestar import Controller, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, HeaderParameter

from aggregates.provenance import Origin
from engine.application import Ledgerflow
from engine.run_waits import RunWaits
from gateways.http.openapi import OptionalBodyOperation, problem_responses
from gateways.http.pages import AsOf, invalid_query, query_instant
from gateways.http.paths import RunId, WorkflowName, run_path
from gateways.http.problems import SPEC_AT
from gateways.http.run_views import (
    ADHOC_EXAMPLES,
    CANCEL_EXAMPLES,
    START_EXAMPLES,
    AsOfVersion,
    CancelRunRequest,
    FromVersion,
    RunView,
    StartAdhocRunRequest,
    StartRunRequest,
)
from gateways.http.waiting import Wait, run_when_ended

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="1-255 visible ASCII characters (no spaces)",
    ),
]
_BODY_PROBLEMS = (413, 415)
_RUN_LOCATION = ResponseHeader(
    name="Location",
    value="/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10",
    documentation_only=True,
    description="The run's URL.",
)
_NEW_RUN_LOCATION = ResponseHeader(
    name="Location",
    value="/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10",
    documentation_only=True,
    description="The new run's URL.",
)
_REPLAYED = ResponseSpec(
    data_container=RunView,
    description="The run this Idempotency-Key started, for a replay of the same request; "
    "`Location` is the run's URL.",
    generate_examples=False,
)


class RunController(Controller):
    """Runs: one execution of a pinned workflow version, and its event-sourced history."""

    path = "/v1"
    tags = ["runs"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post(
        "/workflows/{name:str}/runs",
        status_code=202,
        sync_to_thread=True,
        summary="Start a run",
        description="Starts a run of the workflow's current version: its root tasks are "
        "queued at once and the rest follow as their dependencies succeed. With an "
        "`Idempotency-Key`, a retried request with the same body returns the run it started "
        "(200); the same key with another body is a 409. Keys are kept at least 24 h. "
        "A retired workflow starts no run (409).",
        response_description="Accepted (200 for a replay of the same Idempotency-Key); "
        "`Location` is the run's URL.",
        response_headers=[_RUN_LOCATION],
        responses={200: _REPLAYED, **problem_responses(404, 409, *_BODY_PROBLEMS)},
        operation_class=OptionalBodyOperation,
    )
    def start(
        self,
        *,
        name: WorkflowName,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        data: Annotated[
            StartRunRequest | None, Body(title="Run request", examples=START_EXAMPLES)
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[RunView]:
        inputs = {} if data is None else data.inputs
        run, created = engine.start_run(tenant, name, inputs, origin, idempotency_key)
        return Response(
            RunView.of(run),
            status_code=202 if created else 200,
            headers={"Location": run_path(run.id)},
        )

    @post(
        "/runs",
        status_code=202,
        sync_to_thread=True,
        summary="Start an ad-hoc run",
        description="Starts a run of the definition in the body without registering it "
        "(`workflow_version` 0, `trigger` `adhoc`): the definition is checked as "
        "`POST /v1/workflows` checks it (422, located under `workflow`), pinned in the run, "
        "and its root tasks are queued at once. The run is read, cancelled and retried like "
        "any other. With an `Idempotency-Key`, a retried request with the same body (the "
        "definition included) returns the run it started (200); the same key with another "
        "body is a 409.",
        response_description="Accepted (200 for a replay of the same Idempotency-Key); "
        "`Location` is the run's URL.",
        response_headers=[_RUN_LOCATION],
        responses={200: _REPLAYED, **problem_responses(409, *_BODY_PROBLEMS)},
        opt={SPEC_AT: "workflow"},
    )
    def start_adhoc(
        self,
        *,
        data: Annotated[
            StartAdhocRunRequest, Body(title="Ad-hoc run request", examples=ADHOC_EXAMPLES)
        ],
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[RunView]:
        run, created = engine.start_adhoc_run(
            tenant, data.workflow, data.inputs, origin, idempotency_key
        )
        return Response(
            RunView.of(run),
            status_code=202 if created else 200,
            headers={"Location": run_path(run.id)},
        )

    @get(
        "/runs/{run_id:str}",
        summary="Read a run, now or as it was, or wait for it to end",
        description="The run and each of its tasks, in definition order (strongly "
        "consistent: read from the run's own events). With `wait=S` the answer is held up to "
        "S seconds (at most 10) until the run has ended, then given at once: long polling "
        "instead of polling. With `as_of_version=N` it is rebuilt "
        "from its first N events; with `as_of` (an RFC 3339 instant) from the events recorded "
        "until then: every task's state, attempt and output as they stood. A version beyond "
        "the run's latest, an instant before it started, both parameters, or `wait` with "
        "either is a 422 naming the parameter.",
        responses=problem_responses(404),
    )
    async def describe(
        self,
        *,
        run_id: RunId,
        engine: NamedDependency[Ledgerflow],
        run_waits: NamedDependency[RunWaits],
        tenant: NamedDependency[str],
        as_of_version: AsOfVersion = None,
        as_of: AsOf = None,
        wait: Wait = None,
    ) -> RunView:
        at = query_instant("as_of", as_of)
        if at is not None and as_of_version is not None:
            raise invalid_query("as_of", "give either as_of or as_of_version, not both")
        if wait is not None and (at is not None or as_of_version is not None):
            raise invalid_query("wait", "a past state does not change: wait reads the run now")
        if wait:
            return RunView.of(await run_when_ended(engine, run_waits, tenant, run_id, wait))
        if at is None and as_of_version is None:
            return RunView.of(await anyio.to_thread.run_sync(engine.get_run, tenant, run_id))
        return RunView.of(
            await anyio.to_thread.run_sync(
                lambda: engine.run_as_of(tenant, run_id, version=as_of_version, at=at)
            )
        )

    @post(
        "/runs/{run_id:str}/cancel",
        status_code=202,
        sync_to_thread=True,
        summary="Cancel a run",
        description="Cancels every task not yet finished and finishes the run; results that "
        "arrive afterwards change nothing. A finished run is a 409.",
        responses=problem_responses(404, 409, *_BODY_PROBLEMS),
        operation_class=OptionalBodyOperation,
    )
    def cancel(
        self,
        *,
        run_id: RunId,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        data: Annotated[
            CancelRunRequest | None, Body(title="Cancel request", examples=CANCEL_EXAMPLES)
        ] = None,
    ) -> RunView:
        reason = (data or CancelRunRequest()).reason
        return RunView.of(engine.cancel_run(tenant, run_id, reason, origin))

    @post(
        "/runs/{run_id:str}/retry",
        status_code=202,
        sync_to_thread=True,
        summary="Retry a failed or cancelled run",
        description="Starts a new run linked to this one (`retry_of`; this run records "
        "`RunRetried` with the new id): tasks that succeeded here are reused with their "
        "outputs, the failed, skipped and cancelled ones run again. This run never reopens. "
        "A queued, running or succeeded run is a 409.",
        response_headers=[_NEW_RUN_LOCATION],
        responses=problem_responses(404, 409),
    )
    def retry(
        self,
        *,
        run_id: RunId,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
    ) -> Response[RunView]:
        run = engine.retry_run(tenant, run_id, origin)
        return Response(RunView.of(run), status_code=202, headers={"Location": run_path(run.id)})

    @post(
        "/runs/{run_id:str}/fork",
        status_code=202,
        sync_to_thread=True,
        summary="Fork a run from one of its versions",
        description="Starts a new run from this run's state after its `from_version`-th event "
        "(as `GET /v1/runs/{id}?as_of_version=N` shows it): tasks that had succeeded by then "
        "are reused with their outputs, the rest run again. The runs are linked both ways: "
        "this run records `RunForked` (its only change; it may be finished or not) and the "
        "new one `RunForkedFrom` (`forked_from`, `forked_by` in the views). A `from_version` "
        "below 1 or beyond this run's latest version is a 422 naming it. With an "
        "`Idempotency-Key`, a retried request for the same run and version returns the run "
        "it started (200); the same key for another request is a 409.",
        response_description="Accepted (200 for a replay of the same Idempotency-Key); "
        "`Location` is the new run's URL.",
        response_headers=[_NEW_RUN_LOCATION],
        responses={200: _REPLAYED, **problem_responses(404, 409)},
    )
    def fork(
        self,
        *,
        run_id: RunId,
        from_version: FromVersion,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[RunView]:
        run, created = engine.fork_run(tenant, run_id, from_version, origin, idempotency_key)
        return Response(
            RunView.of(run),
            status_code=202 if created else 200,
            headers={"Location": run_path(run.id)},
        )
