"""What each Run and Workflow event changes in the runs read model (pure, no database)."""

from datetime import timedelta
from uuid import uuid4

from eventsourcing.utils import get_topic

from aggregates.provenance import Origin
from aggregates.run import UNREGISTERED_VERSION, Run, RunStatus
from aggregates.workflow import Workflow
from projections.runs.changes import (
    PROJECTED_TOPICS,
    RunCreated,
    RunFinished,
    RunRunning,
    WorkflowCreated,
    WorkflowRestored,
    WorkflowRetired,
    WorkflowRevised,
    changes_for,
)
from tests.builders import AN_INSTANT, a_report, a_run, a_spec, an_origin, finish

LATER = AN_INSTANT + timedelta(minutes=5)


def changes_of(aggregate: Run | Workflow) -> list[object]:
    return [change for event in aggregate.collect_events() for change in changes_for(event)]


def later(actor: str = "tester") -> Origin:
    return Origin(actor=actor, correlation_id="corr-2", at=LATER)


def test_a_started_run_is_created_queued_with_its_workflow_version_and_task_count() -> None:
    run = Run.start(
        run_id=uuid4(),
        tenant="acme",
        spec=a_spec("etl"),
        workflow_version=3,
        inputs={},
        request_hash="h",
        trigger="api",
        origin=an_origin(),
    )

    assert changes_of(run) == [RunCreated(run.id, "acme", "etl", 3, "api", None, 3, AN_INSTANT)]


def test_a_retry_run_is_created_with_the_run_it_retries() -> None:
    failed = a_run()
    finish(failed, "a", "failed")

    retry = Run.start(
        run_id=uuid4(),
        tenant="default",
        spec=a_spec(),
        workflow_version=1,
        inputs={},
        request_hash="h",
        trigger="retry",
        origin=an_origin(),
        retry_of=failed.id,
    )

    created = changes_of(retry)[0]
    assert isinstance(created, RunCreated)
    assert (created.trigger, created.retry_of) == ("retry", failed.id)


def test_every_task_start_says_the_run_is_running_since_then() -> None:
    run = a_run()

    run.record(a_report(run, "a", "started"), later())

    assert changes_of(run) == [RunRunning(run.id, LATER)]


def test_a_run_whose_tasks_all_succeed_finishes_succeeded() -> None:
    run = a_run(a_spec(tasks=[{"name": "a", "command": "x"}]))
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    run.record(a_report(run, "a", "succeeded"), later())

    assert changes_of(run) == [RunFinished(run.id, RunStatus.SUCCEEDED, None, LATER)]


def test_a_failed_run_finishes_with_its_reason() -> None:
    run = a_run(a_spec(tasks=[{"name": "a", "command": "x"}]))
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    run.record(a_report(run, "a", "failed", exit_code=2), later())

    (finished,) = changes_of(run)
    assert isinstance(finished, RunFinished)
    assert (finished.status, finished.at) == (RunStatus.FAILED, LATER)
    assert finished.reason == run.reason
    assert finished.reason is not None
    assert "a (failed, attempt 1)" in finished.reason


def test_a_cancelled_run_finishes_cancelled_with_its_reason() -> None:
    run = a_run()

    run.cancel("wrong date", later())

    assert changes_of(run) == [RunFinished(run.id, RunStatus.CANCELLED, "wrong date", LATER)]


def test_a_registered_workflow_is_created_at_version_one_with_its_description() -> None:
    spec = a_spec("etl").model_copy(update={"description": "Nightly copy."})

    workflow = Workflow.register("acme", spec, an_origin())

    assert changes_of(workflow) == [WorkflowCreated("acme", "etl", "Nightly copy.", AN_INSTANT)]


def test_a_revision_makes_its_version_current_with_its_description() -> None:
    workflow = Workflow.register("acme", a_spec("etl"), an_origin())
    workflow.collect_events()
    revised = a_spec("etl", [{"name": "only", "command": "x"}])

    workflow.revise(revised.model_copy(update={"description": "Smaller."}), later())

    assert changes_of(workflow) == [WorkflowRevised("acme", "etl", 2, "Smaller.", LATER)]


def test_a_retired_workflow_is_marked_retired_since_then() -> None:
    workflow = Workflow.register("acme", a_spec("etl"), an_origin())
    workflow.collect_events()

    workflow.retire("replaced", later())

    assert changes_of(workflow) == [WorkflowRetired("acme", "etl", LATER)]


def test_a_restored_workflow_is_listed_again_at_its_new_version() -> None:
    workflow = Workflow.register("acme", a_spec("etl"), an_origin())
    workflow.retire(None, an_origin())
    workflow.collect_events()

    workflow.revise(a_spec("etl").model_copy(update={"description": "Back."}), later())

    assert changes_of(workflow) == [WorkflowRestored("acme", "etl", 2, "Back.", LATER)]


def test_an_ad_hoc_run_is_created_at_version_zero_with_its_trigger() -> None:
    run = Run.start(
        run_id=uuid4(),
        tenant="acme",
        spec=a_spec("one-off"),
        workflow_version=UNREGISTERED_VERSION,
        inputs={},
        request_hash="h",
        trigger="adhoc",
        origin=an_origin(),
    )

    assert changes_of(run) == [
        RunCreated(run.id, "acme", "one-off", 0, "adhoc", None, 3, AN_INSTANT)
    ]


def test_events_the_read_model_does_not_show_change_nothing() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())
    run.record(a_report(run, "a", "succeeded"), an_origin())
    _, succeeded, *queued = run.collect_events()

    assert changes_for(succeeded) == ()
    assert [changes_for(event) for event in queued] == [(), ()]
    assert get_topic(Run.TaskQueued) not in PROJECTED_TOPICS
    assert get_topic(Run.Started) in PROJECTED_TOPICS
    assert get_topic(Workflow.Revised) in PROJECTED_TOPICS
