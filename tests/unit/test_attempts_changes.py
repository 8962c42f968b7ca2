"""What each Run and Worker event changes in the attempts read model (pure, no database)."""

from datetime import timedelta

from eventsourcing.utils import get_topic

from aggregates.provenance import Origin
from aggregates.run import DEADLINE_GRACE_SECONDS, Run
from aggregates.worker import Worker, WorkerStatus
from aggregates.workflow import Workflow
from projections.attempt_changes import (
    PROJECTED_TOPICS,
    AttemptFinished,
    AttemptKey,
    AttemptQueued,
    AttemptStarted,
    RetryScheduled,
    RunCancelled,
    TaskPinned,
    WorkerChanged,
    WorkerRegistered,
    changes_for,
)
from tests.builders import AN_INSTANT, a_report, a_run, a_spec, an_origin

LATER = AN_INSTANT + timedelta(seconds=30)


def a_run_with_retries(initial_seconds: float = 0.1) -> Run:
    retry = {"max_attempts": 3, "initial_seconds": initial_seconds, "jitter": False}
    return a_run(a_spec(tasks=[{"name": "a", "command": "false", "retry": retry}]))


def a_worker() -> Worker:
    worker = Worker.register(
        name="w1",
        instance="i1",
        queues=["default", "gpu"],
        capacity=4,
        software_version="0.1.0",
        host="box",
        origin=an_origin("worker:w1"),
    )
    worker.collect_events()
    return worker


def changes_of(aggregate: Run | Worker) -> list[object]:
    return [change for event in aggregate.collect_events() for change in changes_for(event)]


def test_a_started_run_pins_each_tasks_queue_and_timeout() -> None:
    spec = a_spec(tasks=[{"name": "a", "command": "x", "queue": "gpu", "timeout_seconds": 2.5}])
    run = Run.start(
        run_id=a_run().id,
        tenant="acme",
        spec=spec,
        workflow_version=1,
        inputs={},
        request_hash="h",
        trigger="api",
        origin=an_origin(),
    )

    started, queued = run.collect_events()

    assert changes_for(started) == (TaskPinned(run.id, "acme", "a", "gpu", 2.5),)
    assert changes_for(queued) == (
        AttemptQueued(AttemptKey(run.id, "a", 1), "acme", "gpu", AN_INSTANT),
    )


def test_a_start_carries_the_worker_the_delivery_and_the_deadline_grace() -> None:
    run = a_run()

    run.record(a_report(run, "a", "started", delivery=2), an_origin())

    assert changes_of(run) == [
        AttemptStarted(AttemptKey(run.id, "a", 1), "w1", 2, AN_INSTANT, DEADLINE_GRACE_SECONDS)
    ]


def test_a_success_finishes_the_attempt_with_its_exit_code() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    run.record(a_report(run, "a", "succeeded", exit_code=0), an_origin())

    succeeded, *queued_dependants = changes_of(run)
    assert succeeded == AttemptFinished(
        AttemptKey(run.id, "a", 1), "succeeded", AN_INSTANT, "w1", 0
    )
    assert [type(change) for change in queued_dependants] == [AttemptQueued, AttemptQueued]


def test_a_failure_keeps_its_error_and_cause() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    run.record(a_report(run, "a", "failed", exit_code=3, error="boom"), an_origin())

    assert changes_of(run)[0] == AttemptFinished(
        AttemptKey(run.id, "a", 1), "failed", AN_INSTANT, "w1", 3, "boom", "exit"
    )


def test_an_attempt_abandoned_before_it_started_names_no_worker() -> None:
    run = a_run()

    run.abandon("a", 1, "undeliverable", "no worker took it", an_origin())

    assert changes_of(run)[0] == AttemptFinished(
        AttemptKey(run.id, "a", 1),
        "failed",
        AN_INSTANT,
        None,
        None,
        "no worker took it",
        "undeliverable",
    )


def test_an_expired_deadline_times_the_attempt_out() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()
    late = Origin("engine:timers", "corr-1", AN_INSTANT + timedelta(days=1))

    run.expire("a", 1, late)

    timed_out = changes_of(run)[0]
    assert isinstance(timed_out, AttemptFinished)
    assert (timed_out.status, timed_out.cause, timed_out.worker) == ("timed_out", "timed_out", "w1")


def test_a_failure_with_retries_left_schedules_the_next_attempt() -> None:
    run = a_run_with_retries(initial_seconds=0.1)
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    run.record(a_report(run, "a", "failed", exit_code=1), an_origin())

    failed, scheduled = changes_of(run)
    assert isinstance(failed, AttemptFinished)
    assert scheduled == RetryScheduled(
        AttemptKey(run.id, "a", 2), "default", AN_INSTANT + timedelta(seconds=0.1)
    )


def test_a_retry_without_backoff_is_scheduled_and_queued_at_once() -> None:
    run = a_run_with_retries(initial_seconds=0)
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    run.record(a_report(run, "a", "failed", exit_code=1), an_origin())

    _, scheduled, queued = changes_of(run)
    assert scheduled == RetryScheduled(AttemptKey(run.id, "a", 2), "default", AN_INSTANT)
    assert queued == AttemptQueued(AttemptKey(run.id, "a", 2), "default", "default", AN_INSTANT)


def test_a_cancelled_run_cancels_its_unfinished_attempts() -> None:
    run = a_run()

    run.cancel("not needed", an_origin())

    assert changes_of(run) == [RunCancelled(run.id, AN_INSTANT)]


def test_a_registered_worker_becomes_a_row_with_its_queues_and_capacity() -> None:
    worker = Worker.register(
        name="w1",
        instance="i1",
        queues=["default", "gpu"],
        capacity=4,
        software_version="0.1.0",
        host="box",
        origin=an_origin("worker:w1"),
    )

    assert changes_of(worker) == [
        WorkerRegistered(worker.id, "w1", "i1", ("default", "gpu"), 4, "box", "0.1.0", AN_INSTANT)
    ]


def test_each_liveness_change_of_a_worker_sets_its_status() -> None:
    worker = a_worker()

    worker.drain(an_origin())
    worker.lose(LATER, an_origin())
    worker.heard_from(an_origin())
    worker.deregister(an_origin())

    assert [change.status for change in changes_of(worker)] == [  # type: ignore[attr-defined]
        WorkerStatus.DRAINING,
        WorkerStatus.LOST,
        WorkerStatus.REGISTERED,
        WorkerStatus.DEREGISTERED,
    ]
    assert all(isinstance(change, WorkerChanged) for change in changes_of(worker))


def test_events_the_read_model_does_not_show_change_nothing() -> None:
    run = a_run(a_spec(tasks=[{"name": "a", "command": "x"}]))
    run.record(a_report(run, "a", "started"), an_origin())
    run.record(a_report(run, "a", "succeeded"), an_origin())
    *_, succeeded = run.collect_events()
    workflow = Workflow.register("default", a_spec(), an_origin())

    assert changes_for(succeeded) == ()
    assert [changes_for(event) for event in workflow.collect_events()] == [()]
    assert get_topic(Run.TaskSkipped) not in PROJECTED_TOPICS
    assert get_topic(Run.TaskQueued) in PROJECTED_TOPICS
