"""Every transition of the Run aggregate, including the refused ones."""

from collections.abc import Sequence
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application

from aggregates.errors import RunAlreadyFinishedError
from aggregates.run import Recorded, Run, RunStatus
from aggregates.task_state import TaskStatus
from tests.builders import a_report, a_run, a_spec, an_origin, finish


def names(events: Sequence[object]) -> list[str]:
    return [type(event).__name__ for event in events]


def test_a_new_run_queues_only_its_root_tasks() -> None:
    run = Run.start(
        run_id=a_run().id,
        tenant="default",
        spec=a_spec(),
        workflow_version=1,
        inputs={"x": 1},
        request_hash="h",
        trigger="api",
        origin=an_origin(),
    )

    assert names(run.collect_events()) == ["Started", "TaskQueued"]
    assert run.status is RunStatus.QUEUED
    assert run.tasks["a"].status is TaskStatus.QUEUED
    assert run.tasks["b"].status is TaskStatus.PENDING


def test_every_event_carries_tenant_actor_and_correlation_id() -> None:
    run = a_run()

    run.record(a_report(run, "a", "started"), an_origin("worker:w1"))

    (started,) = run.collect_events()
    assert (started.tenant, started.actor, started.correlation_id) == (  # type: ignore[attr-defined]
        "default",
        "worker:w1",
        "corr-1",
    )


def test_a_start_makes_the_run_and_the_task_running() -> None:
    run = a_run()

    outcome = run.record(a_report(run, "a", "started"), an_origin())

    assert outcome is Recorded.APPLIED
    assert run.status is RunStatus.RUNNING
    assert run.tasks["a"].status is TaskStatus.RUNNING
    assert run.tasks["a"].worker == "w1"


def test_a_success_queues_the_tasks_that_depended_on_it() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())

    run.record(a_report(run, "a", "succeeded", exit_code=0, stdout_tail="a\n"), an_origin())

    assert names(run.collect_events()) == [
        "TaskStarted",
        "TaskSucceeded",
        "TaskQueued",
        "TaskQueued",
    ]
    assert run.tasks["a"].stdout_tail == "a\n"
    assert run.tasks["b"].status is TaskStatus.QUEUED
    assert run.tasks["c"].status is TaskStatus.QUEUED


def test_the_run_succeeds_when_every_task_succeeded() -> None:
    run = a_run()
    finish(run, "a")
    finish(run, "b")

    finish_events = run.record(a_report(run, "c", "succeeded"), an_origin())

    assert finish_events is Recorded.APPLIED
    assert names(run.collect_events())[-1] == "Succeeded"
    assert run.status is RunStatus.SUCCEEDED
    assert run.finished_at is not None


def test_a_failed_task_skips_its_dependents_and_fails_the_run() -> None:
    run = a_run()

    finish(run, "a", "failed", exit_code=3, error="exit code 3")

    assert run.tasks["a"].status is TaskStatus.FAILED
    assert run.tasks["a"].exit_code == 3
    assert run.tasks["b"].status is TaskStatus.SKIPPED
    assert run.tasks["b"].reason == "dependency 'a' failed"
    assert run.status is RunStatus.FAILED
    assert run.reason == "1 of 3 task(s) did not succeed: a (failed, attempt 1); 2 skipped"


def test_skips_cascade_down_a_chain() -> None:
    spec = a_spec(
        tasks=[
            {"name": "a", "executor": "noop"},
            {"name": "b", "executor": "noop", "depends_on": ["a"]},
            {"name": "c", "executor": "noop", "depends_on": ["b"]},
        ]
    )
    run = a_run(spec)

    finish(run, "a", "timed_out", error="timed out after 1s")

    assert run.tasks["a"].status is TaskStatus.TIMED_OUT
    assert run.tasks["c"].status is TaskStatus.SKIPPED
    assert run.tasks["c"].reason == "dependency 'b' skipped"
    assert run.status is RunStatus.FAILED


def test_a_task_waits_for_all_its_dependencies() -> None:
    spec = a_spec(
        tasks=[
            {"name": "a", "executor": "noop"},
            {"name": "b", "executor": "noop"},
            {"name": "join", "executor": "noop", "depends_on": ["a", "b"]},
        ]
    )
    run = a_run(spec)

    finish(run, "a")

    assert run.tasks["join"].status is TaskStatus.PENDING


def test_a_duplicate_result_changes_nothing() -> None:
    run = a_run()
    finish(run, "a")

    outcome = run.record(a_report(run, "a", "succeeded"), an_origin())

    assert outcome is Recorded.FENCED
    assert run.collect_events() == []


def test_a_conflicting_second_outcome_changes_nothing() -> None:
    run = a_run()
    finish(run, "a")

    outcome = run.record(a_report(run, "a", "failed", exit_code=1), an_origin())

    assert outcome is Recorded.FENCED
    assert run.tasks["a"].status is TaskStatus.SUCCEEDED


def test_a_duplicate_start_changes_nothing() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    outcome = run.record(a_report(run, "a", "started"), an_origin())

    assert outcome is Recorded.FENCED
    assert run.collect_events() == []


def test_a_redelivery_takes_over_and_fences_the_zombie_it_replaced() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started", delivery=1, worker="w1"), an_origin())
    run.record(a_report(run, "a", "started", delivery=2, worker="w2"), an_origin())
    run.collect_events()

    zombie = run.record(a_report(run, "a", "succeeded", delivery=1, worker="w1"), an_origin())

    assert zombie is Recorded.FENCED
    assert run.tasks["a"].worker == "w2"
    assert run.tasks["a"].delivery == 2


def test_a_result_for_another_attempt_changes_nothing() -> None:
    run = a_run()

    outcome = run.record(a_report(run, "a", "succeeded", attempt=2), an_origin())

    assert outcome is Recorded.FENCED
    assert run.tasks["a"].status is TaskStatus.QUEUED


def test_a_result_for_a_pending_task_changes_nothing() -> None:
    run = a_run()

    outcome = run.record(a_report(run, "b", "succeeded"), an_origin())

    assert outcome is Recorded.FENCED


def test_a_result_for_an_unknown_task_changes_nothing() -> None:
    run = a_run()

    outcome = run.record(a_report(run, "zzz", "succeeded"), an_origin())

    assert outcome is Recorded.FENCED


def test_a_result_addressed_to_another_tenant_changes_nothing() -> None:
    run = a_run()

    outcome = run.record(a_report(run, "a", "succeeded", tenant="other"), an_origin())

    assert outcome is Recorded.FENCED


def test_a_result_before_its_start_is_recorded() -> None:
    run = a_run()

    outcome = run.record(a_report(run, "a", "succeeded"), an_origin())

    assert outcome is Recorded.APPLIED
    assert run.tasks["a"].status is TaskStatus.SUCCEEDED


def test_cancelling_cancels_every_unfinished_task() -> None:
    run = a_run()
    finish(run, "a")

    run.cancel("not needed", an_origin())

    assert names(run.collect_events()) == ["Cancelled"]
    assert run.status is RunStatus.CANCELLED
    assert run.tasks["a"].status is TaskStatus.SUCCEEDED
    assert run.tasks["b"].status is TaskStatus.CANCELLED


def test_a_finished_run_cannot_be_cancelled() -> None:
    run = a_run()
    run.cancel("once", an_origin())

    with pytest.raises(RunAlreadyFinishedError):
        run.cancel("twice", an_origin())


def test_a_result_after_cancellation_changes_nothing() -> None:
    run = a_run()
    run.cancel("stop", an_origin())
    run.collect_events()

    outcome = run.record(a_report(run, "a", "succeeded"), an_origin())

    assert outcome is Recorded.FENCED
    assert run.collect_events() == []


def test_a_run_rebuilt_from_its_events_has_the_same_state() -> None:
    app: Application[UUID] = Application()
    live = Run.start(
        run_id=uuid4(),
        tenant="default",
        spec=a_spec(),
        workflow_version=1,
        inputs={},
        request_hash="h",
        trigger="api",
        origin=an_origin(),
    )
    live.record(a_report(live, "a", "succeeded"), an_origin())
    live.record(a_report(live, "b", "failed", exit_code=2), an_origin())
    live.record(a_report(live, "c", "started"), an_origin())
    app.save(live)

    rebuilt: Run = app.repository.get(live.id)

    assert rebuilt.tasks == live.tasks
    assert rebuilt.status is live.status is RunStatus.RUNNING
