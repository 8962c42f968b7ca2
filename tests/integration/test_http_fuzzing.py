"""Every API operation fuzzed against its own OpenAPI document, on real PostgreSQL.

Schemathesis generates requests from the schema (its examples, then boundary values and
malformed input, then random valid and invalid data) and checks each response: no server
error, a documented status code, content type and headers, a body that matches its model,
and invalid input refused. Runs are seeded (derandomized) so CI sees the same requests.

The schema is read at collection from the app on the in-memory store (it does not depend on
the store), so each operation is a test of its own; each sends its requests to the same app on
PostgreSQL, whose schema is checked to be that one. (`schemathesis.pytest.from_fixture`, which
would read it from a fixture, fails on pytest 9.2: it rewrites `Function._nodeid`.) Pytest 9.2
also gives the per-operation tests one node id: `-k 'GET and runs'` selects among them.

Some 422s answer rules a schema cannot state; `valid_requests_are_accepted` names them.
"""

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from aggregates.names import IDENTIFIER_PATTERN
from aggregates.run import TaskReport
from aggregates.spec import WorkflowSpec
from aggregates.worker import Heartbeat
from engine.application import Ledgerflow
from gateways.http.waiting import MAX_WAIT_SECONDS
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine, build_projection, read_models
from projections.tracked_projection import TrackedProjection
from tests.integration.loops import all_running
from tests.integration.test_http_on_postgres import a_client as a_client_on
from tests.unit.test_http_builders import a_client

pytestmark = pytest.mark.integration

Case = schemathesis.Case[Any]

EXAMPLES_PER_OPERATION = 40
VALIDATION_FAILED = 422
INVALID_WORKFLOW = "https://ledgerflow.dev/problems/invalid-workflow"
TASK = re.compile(r"(workflow\.)?tasks\[\d+\]")
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
UNSTORABLE = ("must not contain NUL characters", "must be valid Unicode (no lone surrogates)")
HANG = 30.0
_NAME_FILTERS = ("workflow", "trigger")
SPEC = {
    "name": "nightly-etl",  # the name the schema's examples use
    "description": "Copy yesterday's orders into the warehouse.",
    "tasks": [
        {"name": "extract", "command": "echo e"},
        {"name": "load", "command": "echo l", "depends_on": ["extract"]},
    ],
}


def _documented_schema() -> dict[str, Any]:
    with a_client() as client:
        document: dict[str, Any] = client.get("/schema/openapi.json").json()
    return document


CONFIG = {
    # No secrets travel here: show every value in reproductions (a secret's name included).
    "output": {"sanitization": {"enabled": False}},
    # Invalid input may also be refused as too large (413): schemathesis' list lacks it.
    "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
}
schema = schemathesis.openapi.from_dict(
    _documented_schema(), config=schemathesis.Config.from_dict(CONFIG)
)


@pytest.fixture(scope="module")
def engine_with_history(postgres_url: str) -> Iterator[Ledgerflow]:
    """An engine on a fresh schema holding workflows, runs in every state and a worker."""
    settings_ = Settings(database_url=postgres_url, schema=f"t{uuid.uuid4().hex[:10]}", pool_size=8)
    migrate(settings_)
    engine = build_engine(settings_)
    try:
        _record_some_history(engine)
        asyncio.run(_project(engine))
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def app(engine_with_history: Ledgerflow) -> Iterator[Litestar]:
    """The API on PostgreSQL, documenting itself exactly as the schema the tests were made from."""
    with a_client_on(engine_with_history) as client:
        assert client.get("/schema/openapi.json").json() == schema.raw_schema
        yield client.app


def _record_some_history(engine: Ledgerflow) -> None:
    origin = engine.origin("seed")
    engine.register_workflow("default", WorkflowSpec.model_validate(SPEC), origin)
    run_ids = [engine.start_run("default", "nightly-etl", {"n": n}, origin)[0].id for n in range(4)]
    done, failed, running, cancelled = run_ids

    def report(run_id: uuid.UUID, task: str, outcome: Any, **fields: Any) -> TaskReport:
        return TaskReport(run_id, "default", task, 1, 1, "w1", outcome, **fields)

    engine.record_reports(
        [
            report(done, "extract", "started"),
            report(done, "extract", "succeeded", exit_code=0, output={"rows": 1}),
            report(done, "load", "started"),
            report(done, "load", "succeeded", exit_code=0, stdout_tail="ok\n"),
            report(failed, "extract", "started"),
            report(failed, "extract", "failed", exit_code=3, error="boom", stderr_tail="x\n"),
            report(running, "extract", "started"),
        ]
    )
    engine.cancel_run("default", cancelled, "seeded", origin)
    engine.record_heartbeat(Heartbeat("w1", "i1", ("default",), 4, "0.1.0", "localhost", "running"))


async def _project(engine: Ledgerflow) -> None:
    """Run every read model's projection until it has caught up with the log."""
    followers = [build_projection(engine, model) for model in read_models()]
    async with all_running(*followers):
        head = await asyncio.to_thread(engine.recorder.max_notification_id) or 0
        await asyncio.to_thread(_wait_until_at, followers, head)


def _wait_until_at(followers: list[TrackedProjection], head: int) -> None:
    deadline = time.monotonic() + HANG
    while any(follower.position < head for follower in followers):
        assert time.monotonic() < deadline, "the read models did not catch up"
        time.sleep(0.01)


def invalid_requests_are_refused(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """Schemathesis' `negative_data_rejection`, but a query string is text: a name filter
    generated as another type (`workflow=false`, `trigger=0`) arrives as a valid name."""
    if response.status_code < 300 and _only_names_in_the_query_are_invalid(case):
        return None
    return negative_data_rejection(ctx, response, case)


def _only_names_in_the_query_are_invalid(case: Case) -> bool:
    meta = case.meta
    if meta is None:
        return False
    negative = {loc for loc, info in meta.components.items() if info.mode.is_negative}
    if negative != {ParameterLocation.QUERY}:
        return False
    names = [(case.query or {}).get(p) for p in _NAME_FILTERS]
    values = [str(v) for n in names if n is not None for v in (n if isinstance(n, list) else [n])]
    return bool(values) and all(re.fullmatch(IDENTIFIER_PATTERN, v) for v in values)


def valid_requests_are_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """Schemathesis' `positive_data_acceptance`, but for the rules a schema cannot state.

    Those rules refuse with a 422 that names them (see `_breaks_a_rule_no_schema_states`).
    """
    if response.status_code == VALIDATION_FAILED and _breaks_a_rule_no_schema_states(response):
        return None
    return positive_data_acceptance(ctx, response, case)


def _breaks_a_rule_no_schema_states(response: schemathesis.Response) -> bool:
    """A 422 for a rule that relates values, or values to state, which a schema cannot state:

    - a cursor is opaque: a string of its shape is not one the list issued (and it goes
      without `after`);
    - a time window ends after it starts (`created_before` after `created_after`);
    - the task graph holds together (dependencies exist, no cycle): an `invalid-workflow`;
    - each task has its own executor's fields and only those (an error located at the task);
    - text is storable in PostgreSQL: no NUL, no lone surrogate;
    - a point in time lies within the history of what it reads (`as_of`, `as_of_version`).
    - a webhook's `url` is https and its host resolves to public addresses only.
    """
    problem = response.json()
    if problem.get("type") == INVALID_WORKFLOW:
        return True
    errors = problem.get("errors") or [{}]
    return all(
        _a_rule_no_schema_states(str(e.get("loc", "")), str(e.get("msg", ""))) for e in errors
    )


def _a_rule_no_schema_states(loc: str, msg: str) -> bool:
    return (
        loc in ("cursor", "as_of", "as_of_version", "wait")
        or loc == "url"  # a webhook's host must resolve, to public addresses only (SSRF)
        or msg.startswith("must be later than")
        or msg == "end must be later than start"
        or loc.endswith(("schedule.cron", "schedule.timezone"))  # a grammar, a zone database
        or TASK.fullmatch(loc) is not None
        or msg.endswith(UNSTORABLE)
    )


def _with_the_path_name_in_the_body(case: Case) -> None:
    """`PUT /v1/workflows/{name}` wants the body's name to be the path's, a rule the schema
    cannot state: valid requests get it, so they reach the engine."""
    meta = case.meta
    positive = meta is not None and meta.generation.mode.is_positive
    body, path = case.body, case.path_parameters
    if case.operation.label == "PUT /v1/workflows/{name}" and positive and isinstance(body, dict):
        body["name"] = (path or {}).get("name")


def _with_short_waits(case: Case) -> None:
    """A run of the recorded history never ends here (no workers): a generated `wait` would
    hold each such request up to 10 s, so valid waits are cut to a blink."""
    query = case.query
    if isinstance(query, dict) and isinstance(query.get("wait"), int | float):
        wait = query["wait"]
        query["wait"] = min(wait, 0.05) if 0 <= wait <= MAX_WAIT_SECONDS else wait


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_its_schema_says(case: Case, app: Litestar) -> None:
    _with_the_path_name_in_the_body(case)
    _with_short_waits(case)

    case.call_and_validate(
        app=app,
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
        additional_checks=[valid_requests_are_accepted, invalid_requests_are_refused],
    )
