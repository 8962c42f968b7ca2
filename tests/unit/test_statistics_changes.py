"""What each Run event changes in the statistics read model (pure, no database)."""

from datetime import timedelta
from uuid import uuid4

from eventsourcing.utils import get_topic

from aggregates.provenance import Origin
from aggregates.run import Run, RunStatus
from aggregates.workflow import Workflow
from projections.statistics.changes import PROJECTED_TOPICS, RunClosed, RunOpened, changes_for
from tests.builders import AN_INSTANT, a_report, a_run, a_spec, an_origin

LATER = AN_INSTANT + timedelta(minutes=5)
ONE_TASK = [{"name": "a", "command": "x"}]


def changes_of(run: Run) -> list[object]:
    return [change for event in run.collect_events() for change in changes_for(event)]


def later() -> Origin:
    return Origin(actor="tester", correlation_id="corr-2", at=LATER)


def a_started_one_task_run() -> Run:
    run = a_run(a_spec("etl", ONE_TASK))
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()
    return run


def test_a_started_run_is_opened_with_its_tenant_workflow_and_start_time() -> None:
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

    assert changes_of(run) == [RunOpened(run.id, "acme", "etl", AN_INSTANT)]


def test_an_ad_hoc_run_is_opened_under_its_spec_name() -> None:
    run = Run.start(
        run_id=uuid4(),
        tenant="acme",
        spec=a_spec("one-off"),
        workflow_version=0,
        inputs={},
        request_hash="h",
        trigger="adhoc",
        origin=an_origin(),
    )

    assert changes_of(run) == [RunOpened(run.id, "acme", "one-off", AN_INSTANT)]


def test_a_succeeded_run_is_closed_as_succeeded_when_it_ended() -> None:
    run = a_started_one_task_run()

    run.record(a_report(run, "a", "succeeded"), later())

    assert changes_of(run) == [RunClosed(run.id, RunStatus.SUCCEEDED, LATER)]


def test_a_failed_run_is_closed_as_failed_when_it_ended() -> None:
    run = a_started_one_task_run()

    run.record(a_report(run, "a", "failed", exit_code=2), later())

    assert changes_of(run) == [RunClosed(run.id, RunStatus.FAILED, LATER)]


def test_a_cancelled_run_is_closed_as_cancelled_when_it_was_cancelled() -> None:
    run = a_run()

    run.cancel("wrong date", later())

    assert changes_of(run) == [RunClosed(run.id, RunStatus.CANCELLED, LATER)]


def test_task_events_change_nothing_and_only_run_events_are_followed() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())
    run.record(a_report(run, "a", "succeeded"), an_origin())

    assert [changes_for(event) for event in run.collect_events()] == [(), (), (), ()]
    assert {
        get_topic(kind) for kind in (Run.Started, Run.Succeeded, Run.Failed, Run.Cancelled)
    } == PROJECTED_TOPICS
    assert get_topic(Workflow.Registered) not in PROJECTED_TOPICS
