"""`GET /v1/runs/{run_id}/tasks`: every attempt of a run, with the latest outcome's logs."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from aggregates.run import TaskReport
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from projections.attempts_view import AttemptRow
from tests.unit.test_http_builders import a_client, a_spec, an_engine, problem

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RETRY_AT_ONCE = {"max_attempts": 2, "initial_seconds": 0, "jitter": False}
# Defined as zip, then archive: the list keeps that order, not the alphabet's.
ZIP_THEN_ARCHIVE = [
    {"name": "zip", "command": "zip -r out.zip .", "retry": RETRY_AT_ONCE},
    {"name": "archive", "command": "mv out.zip /backup", "depends_on": ["zip"]},
]


def a_run_of_zip_then_archive(engine: Ledgerflow) -> UUID:
    spec = WorkflowSpec.model_validate(a_spec("backup", tasks=ZIP_THEN_ARCHIVE))
    engine.register_workflow("default", spec, engine.origin("t"))
    run, _ = engine.start_run("default", "backup", {}, engine.origin("t"))
    return run.id


def report(
    run_id: UUID,
    task: str,
    attempt: int,
    outcome: Literal["started", "succeeded", "failed"],
    **fields: Any,
) -> TaskReport:
    return TaskReport(run_id, "default", task, attempt, 1, "w1", outcome, **fields)


def a_row(run_id: UUID, task: str, attempt: int, status: str, **fields: Any) -> AttemptRow:
    row = AttemptRow(
        tenant="default",
        run_id=run_id,
        task=task,
        attempt=attempt,
        status=status,
        queue="default",
        worker=None,
        delivery=0,
        queued_at=T0,
        started_at=None,
        finished_at=None,
        deadline=None,
        retry_at=None,
        exit_code=None,
        error=None,
        cause=None,
    )
    return replace(row, **fields)


def attempts_shown(engine: Ledgerflow, run_id: UUID, rows: list[AttemptRow]) -> list[Any]:
    def attempts(asked: UUID) -> list[AttemptRow]:
        return [row for row in rows if row.run_id == asked]

    with a_client(engine, attempts=attempts) as client:
        response = client.get(f"/v1/runs/{run_id}/tasks")
        assert response.status_code == 200, response.text
        assert response.json()["next_cursor"] is None
        items: list[Any] = response.json()["items"]
        return items


def test_attempts_are_listed_in_definition_order_then_by_attempt_with_their_timings() -> None:
    engine = an_engine()
    run_id = a_run_of_zip_then_archive(engine)
    started, finished = (
        datetime(2026, 5, 1, 12, 1, tzinfo=UTC),
        datetime(2026, 5, 1, 12, 2, 3, tzinfo=UTC),
    )
    rows = [
        a_row(run_id, "archive", 1, "queued"),
        a_row(run_id, "zip", 2, "succeeded", worker="w1", delivery=1, exit_code=0),
        a_row(
            run_id,
            "zip",
            1,
            "failed",
            worker="w1",
            delivery=1,
            started_at=started,
            finished_at=finished,
            exit_code=1,
            error="exit status 1",
            cause="exit",
        ),
    ]

    items = attempts_shown(engine, run_id, rows)

    assert [(item["task"], item["attempt"]) for item in items] == [
        ("zip", 1),
        ("zip", 2),
        ("archive", 1),
    ]
    failed = items[0]
    assert (failed["status"], failed["worker"], failed["delivery"]) == ("failed", "w1", 1)
    assert (failed["exit_code"], failed["error"], failed["cause"]) == (1, "exit status 1", "exit")
    assert failed["duration_ms"] == 63_000
    assert items[2]["duration_ms"] is None


def test_a_retried_task_shows_the_failed_attempts_logs_on_that_attempt() -> None:
    engine = an_engine()
    run_id = a_run_of_zip_then_archive(engine)
    engine.record_reports(
        [
            report(run_id, "zip", 1, "started"),
            report(run_id, "zip", 1, "failed", exit_code=1, stdout_tail="disk full\n"),
            report(run_id, "zip", 2, "started"),
        ]
    )
    rows = [a_row(run_id, "zip", 1, "failed"), a_row(run_id, "zip", 2, "running")]

    first, second = attempts_shown(engine, run_id, rows)

    assert (first["stdout_tail"], first["stderr_tail"], first["output"]) == (
        "disk full\n",
        "",
        None,
    )
    assert (second["stdout_tail"], second["stderr_tail"], second["output"]) == (None, None, None)


def test_a_succeeded_attempt_shows_its_logs_and_output_and_the_earlier_one_none() -> None:
    engine = an_engine()
    run_id = a_run_of_zip_then_archive(engine)
    engine.record_reports(
        [
            report(run_id, "zip", 1, "started"),
            report(run_id, "zip", 1, "failed", exit_code=1, stdout_tail="disk full\n"),
            report(run_id, "zip", 2, "started"),
            report(run_id, "zip", 2, "succeeded", stdout_tail="ok\n", output={"files": 3}),
        ]
    )
    rows = [a_row(run_id, "zip", 1, "failed"), a_row(run_id, "zip", 2, "succeeded")]

    first, second = attempts_shown(engine, run_id, rows)

    assert first["stdout_tail"] is None
    assert (second["stdout_tail"], second["output"]) == ("ok\n", {"files": 3})


def test_an_unknown_run_is_a_404_and_its_attempts_are_not_read() -> None:
    asked: list[UUID] = []

    def attempts(run_id: UUID) -> list[AttemptRow]:
        asked.append(run_id)
        return []

    with a_client(attempts=attempts) as client:
        response = client.get(f"/v1/runs/{uuid4()}/tasks")

        assert problem(response, 404)["type"].endswith("/run-not-found")
        assert asked == []


def test_another_tenants_run_is_a_404() -> None:
    engine = an_engine()
    spec = WorkflowSpec.model_validate(a_spec("backup", tasks=ZIP_THEN_ARCHIVE))
    engine.register_workflow("acme", spec, engine.origin("t"))
    theirs, _ = engine.start_run("acme", "backup", {}, engine.origin("t"))

    with a_client(engine, attempts=lambda run_id: [a_row(run_id, "zip", 1, "queued")]) as client:
        response = client.get(f"/v1/runs/{theirs.id}/tasks")

        problem(response, 404)


def test_a_run_id_that_is_not_a_uuid_is_a_422() -> None:
    with a_client() as client:
        problem(client.get("/v1/runs/not-a-uuid/tasks"), 422)
