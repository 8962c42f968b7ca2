"""A run's timeline: its history told in words, with time between steps and per task."""

from datetime import UTC, datetime
from uuid import UUID

from aggregates.run import TaskReport
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from engine.timeline import Timeline
from tests.clocks import MovingClock
from tests.unit.test_http_builders import PositionedPOPOFactory, a_client

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SPEC = {
    "name": "etl",
    "retry": {"max_attempts": 3, "backoff": "fixed", "initial_seconds": 4, "jitter": False},
    "tasks": [
        {"name": "a", "command": "exit 1"},
        {"name": "b", "command": "echo b", "depends_on": ["a"]},
    ],
}


def an_engine(clock: MovingClock) -> Ledgerflow:
    module = f"tests.unit.test_http_builders:{PositionedPOPOFactory.__name__}"
    return Ledgerflow(env={"PERSISTENCE_MODULE": module}, clock=clock)


def a_run_whose_first_task_failed_three_times(engine: Ledgerflow, clock: MovingClock) -> UUID:
    """a waits 1 s in the queue and runs 2 s per attempt, retries after 4 s; b is skipped."""
    origin = engine.origin("alice")
    engine.register_workflow("default", WorkflowSpec.model_validate(SPEC), origin)
    run_id = engine.start_run("default", "etl", {}, engine.origin("alice"))[0].id
    for attempt in (1, 2, 3):
        if attempt > 1:
            clock.advance(4)
            engine.requeue_retry(run_id, "a", attempt)
        clock.advance(1)
        engine.record_reports([_report(run_id, attempt, "started")])
        clock.advance(2)
        engine.record_reports([_report(run_id, attempt, "failed", exit_code=1, error="boom")])
    return run_id


def _report(run_id: UUID, attempt: int, outcome: str, **fields: object) -> TaskReport:
    return TaskReport(run_id, "default", "a", attempt, 1, "w1", outcome, **fields)  # type: ignore[arg-type]


def the_timeline(engine: Ledgerflow, run_id: UUID) -> Timeline:
    return engine.run_timeline("default", run_id)


def test_a_skipped_task_is_explained_by_its_dependencys_failure_and_attempts() -> None:
    clock = MovingClock(T0)
    engine = an_engine(clock)
    run_id = a_run_whose_first_task_failed_three_times(engine, clock)

    steps = the_timeline(engine, run_id).steps

    assert "b skipped because a failed after 3 attempts" in [s.text for s in steps]
    assert steps[-1].text.startswith("run failed after 17 s: 1 of 2 task(s) did not succeed")


def test_a_retry_says_when_it_is_due_and_its_backoff() -> None:
    clock = MovingClock(T0)
    engine = an_engine(clock)
    run_id = a_run_whose_first_task_failed_three_times(engine, clock)

    texts = [s.text for s in the_timeline(engine, run_id).steps if s.type == "TaskRetryScheduled"]

    assert texts[0].startswith("a: retry 2 scheduled for 12:00:07 (backoff 4 s) because")


def test_steps_say_who_started_the_run_how_long_a_task_waited_and_ran() -> None:
    clock = MovingClock(T0)
    engine = an_engine(clock)
    run_id = a_run_whose_first_task_failed_three_times(engine, clock)

    steps = the_timeline(engine, run_id).steps

    assert steps[0].text == "run started by alice (api): workflow etl v1, 2 task(s)"
    assert steps[2].text == "a attempt 1 started on worker w1 after 1 s in the queue"
    assert steps[3].text == "a attempt 1 failed after running 2 s: exit code 1; boom"
    assert (steps[2].since_previous_ms, steps[2].since_start_ms) == (1000, 1000)


def test_each_tasks_waiting_and_running_time_add_up_over_its_attempts() -> None:
    clock = MovingClock(T0)
    engine = an_engine(clock)
    run_id = a_run_whose_first_task_failed_three_times(engine, clock)

    tasks = {t.task: t for t in the_timeline(engine, run_id).tasks}

    assert (tasks["a"].attempts, tasks["a"].status) == (3, "failed")
    assert (tasks["a"].waiting_ms, tasks["a"].running_ms) == (3 * 1000 + 2 * 4000, 3 * 2000)
    assert (tasks["b"].status, tasks["b"].running_ms) == ("skipped", 0)


def test_the_timeline_route_answers_steps_with_text_and_task_times() -> None:
    clock = MovingClock(T0)
    engine = an_engine(clock)
    run_id = a_run_whose_first_task_failed_three_times(engine, clock)
    with a_client(engine) as client:
        response = client.get(f"/v1/runs/{run_id}/timeline")

        assert response.status_code == 200
        body = response.json()
        assert body["items"][0]["text"].startswith("run started by alice")
        assert body["tasks"][0]["task"] == "a"
        assert body["next_cursor"] is None


def test_the_timeline_of_an_unknown_run_is_a_404() -> None:
    with a_client(an_engine(MovingClock(T0))) as client:
        response = client.get("/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10/timeline")

        assert response.status_code == 404
