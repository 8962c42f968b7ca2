"""`POST /v1/runs/{id}/retry`: a new run linked to a failed one, reusing what succeeded."""

from uuid import UUID, uuid4

from aggregates.run import TaskReport
from engine.application import Ledgerflow
from tests.unit.test_http_builders import (
    a_client,
    a_registered_workflow,
    a_started_run,
    an_engine,
    problem,
    recorded,
)


def report(run: dict[str, object], task: str, outcome: str) -> TaskReport:
    return TaskReport(
        run_id=UUID(str(run["id"])),
        tenant="default",
        task=task,
        attempt=1,
        delivery=1,
        worker="w1",
        outcome=outcome,  # type: ignore[arg-type]
        output={"rows": 3} if outcome == "succeeded" else None,
    )


def a_failed_run(engine: Ledgerflow, client: object) -> dict[str, object]:
    a_registered_workflow(client)  # type: ignore[arg-type]
    run = a_started_run(client)  # type: ignore[arg-type]
    engine.record_reports([report(run, "extract", "succeeded"), report(run, "transform", "failed")])
    return run


def test_retrying_a_failed_run_starts_a_linked_run_that_reuses_successful_tasks() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        failed = a_failed_run(engine, client)

        response = client.post(f"/v1/runs/{failed['id']}/retry")

        assert response.status_code == 202
        retry = response.json()
        assert response.headers["location"] == f"/v1/runs/{retry['id']}"
        assert retry["retry_of"] == failed["id"]
        extract, transform, _ = retry["tasks"]
        assert (extract["status"], extract["reused_from"]) == ("succeeded", failed["id"])
        assert extract["output"] == {"rows": 3}
        assert (transform["status"], transform["attempt"]) == ("queued", 1)
        old = client.get(f"/v1/runs/{failed['id']}").json()
        assert (old["status"], old["retried_by"]) == ("failed", [retry["id"]])


def test_the_old_runs_history_shows_the_link() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        failed = a_failed_run(engine, client)
        retry = client.post(f"/v1/runs/{failed['id']}/retry").json()

        items = client.get(f"/v1/runs/{failed['id']}/events").json()["items"]

        assert items[-1]["type"] == "RunRetried"
        assert items[-1]["data"] == {"retry_run_id": retry["id"]}


def test_a_running_run_cannot_be_retried_and_nothing_is_recorded() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client)
        run = a_started_run(client)
        before = recorded(engine)

        response = client.post(f"/v1/runs/{run['id']}/retry")

        assert problem(response, 409)["type"].endswith("/run-not-retryable")
        assert recorded(engine) == before


def test_retrying_an_unknown_run_is_a_404() -> None:
    with a_client() as client:
        response = client.post(f"/v1/runs/{uuid4()}/retry")

        assert problem(response, 404)["type"].endswith("/run-not-found")
