"""Retries, engine-side timeouts, abandoned attempts and trigger rules on the Run aggregate."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from aggregates.errors import RunNotRetryableError
from aggregates.provenance import Origin
from aggregates.retry import RetryPolicy
from aggregates.run import DEADLINE_GRACE_SECONDS, Recorded, Run, RunStatus
from aggregates.task_state import TaskStatus
from tests.builders import AN_INSTANT, a_report, a_run, a_spec, an_origin

ONE_TASK = [{"name": "a", "executor": "noop"}]


def at(seconds: float) -> Origin:
    return replace(an_origin(), at=AN_INSTANT + timedelta(seconds=seconds))


def names(run: Run) -> list[str]:
    return [type(event).__name__ for event in run.collect_events()]


def a_retrying_run(tasks: list[dict[str, Any]] | None = None, **retry: Any) -> Run:
    spec = a_spec(tasks=tasks or ONE_TASK)
    policy = {"max_attempts": 3, "initial_seconds": 2.0, "factor": 2.0, **retry}
    spec = spec.model_copy(update={"retry": RetryPolicy.model_validate(policy)})
    return a_run(spec)


def test_a_failure_with_attempts_left_schedules_a_retry_after_the_backoff() -> None:
    run = a_retrying_run(jitter=False)

    run.record(a_report(run, "a", "failed", exit_code=1), at(0))

    assert names(run) == ["TaskFailed", "TaskRetryScheduled"]
    state = run.tasks["a"]
    assert (state.status, state.attempt) == (TaskStatus.WAITING_RETRY, 2)
    assert state.retry_at == AN_INSTANT + timedelta(seconds=2)
    assert run.status is not RunStatus.FAILED


def test_exponential_backoff_grows_with_each_attempt_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, initial_seconds=1, factor=3, max_delay_seconds=20)

    delays = [policy.delay(attempt, jitter=1.0) for attempt in range(1, 6)]

    assert delays == [1, 3, 9, 20, 20]


def test_full_jitter_scales_the_delay() -> None:
    policy = RetryPolicy(max_attempts=3, initial_seconds=4, backoff="fixed")

    assert policy.delay(2, jitter=0.25) == 1.0


def test_a_retry_is_queued_only_once_it_is_due() -> None:
    run = a_retrying_run(jitter=False)
    run.record(a_report(run, "a", "failed", exit_code=1), at(0))
    run.collect_events()

    early = run.requeue("a", 2, at(1))
    due = run.requeue("a", 2, at(2))
    again = run.requeue("a", 2, at(3))

    assert (early, due, again) == (Recorded.FENCED, Recorded.APPLIED, Recorded.FENCED)
    assert names(run) == ["TaskQueued"]
    assert (run.tasks["a"].status, run.tasks["a"].attempt) == (TaskStatus.QUEUED, 2)


def test_a_zero_delay_retry_is_queued_at_once() -> None:
    run = a_retrying_run(initial_seconds=0)

    run.record(a_report(run, "a", "failed", exit_code=1), at(0))

    assert names(run) == ["TaskFailed", "TaskRetryScheduled", "TaskQueued"]


def test_a_late_result_of_the_failed_attempt_changes_nothing() -> None:
    run = a_retrying_run()
    run.record(a_report(run, "a", "failed", exit_code=1), at(0))
    run.collect_events()

    late = run.record(a_report(run, "a", "succeeded"), at(1))

    assert late is Recorded.FENCED
    assert names(run) == []


def test_the_last_attempt_failing_fails_the_run() -> None:
    run = a_retrying_run(max_attempts=2, initial_seconds=0)
    run.record(a_report(run, "a", "failed", exit_code=1), at(0))

    run.record(a_report(run, "a", "failed", attempt=2, exit_code=1), at(1))

    assert run.status is RunStatus.FAILED
    assert "a (failed, attempt 2)" in (run.reason or "")


def test_failures_outside_retry_on_do_not_retry() -> None:
    run = a_retrying_run(retry_on=["timed_out"])

    run.record(a_report(run, "a", "failed", exit_code=1), at(0))

    assert run.status is RunStatus.FAILED


def test_a_task_policy_overrides_the_workflow_default() -> None:
    tasks = [{"name": "a", "executor": "noop", "retry": {"max_attempts": 1}}]
    run = a_retrying_run(tasks)

    run.record(a_report(run, "a", "failed", exit_code=1), at(0))

    assert run.status is RunStatus.FAILED


def started_run(timeout: float = 10.0, **retry: Any) -> Run:
    run = a_retrying_run([{"name": "a", "executor": "noop", "timeout_seconds": timeout}], **retry)
    run.record(a_report(run, "a", "started"), at(0))
    run.collect_events()
    return run


def test_a_running_attempt_past_its_deadline_is_timed_out_by_the_engine() -> None:
    run = started_run(max_attempts=1)

    before = run.expire("a", 1, at(10 + DEADLINE_GRACE_SECONDS - 1))
    after = run.expire("a", 1, at(10 + DEADLINE_GRACE_SECONDS))

    assert (before, after) == (Recorded.FENCED, Recorded.APPLIED)
    assert names(run) == ["TaskTimedOut", "Failed"]
    assert run.tasks["a"].cause == "timed_out"


def test_an_engine_timeout_retries_per_policy_and_the_zombies_result_is_fenced() -> None:
    run = started_run(initial_seconds=0)
    run.expire("a", 1, at(100))
    run.collect_events()

    zombie = run.record(a_report(run, "a", "succeeded"), at(101))

    assert zombie is Recorded.FENCED
    assert (run.tasks["a"].status, run.tasks["a"].attempt) == (TaskStatus.QUEUED, 2)


def test_a_lost_workers_running_attempt_fails_at_once_and_retries() -> None:
    run = started_run(initial_seconds=0)

    outcome = run.abandon("a", 1, "worker_lost", "worker w1 lost", at(1), worker="w1")

    assert outcome is Recorded.APPLIED
    assert names(run) == ["TaskFailed", "TaskRetryScheduled", "TaskQueued"]


def test_losing_another_worker_changes_nothing() -> None:
    run = started_run()

    outcome = run.abandon("a", 1, "worker_lost", "worker w2 lost", at(1), worker="w2")

    assert outcome is Recorded.FENCED


def test_losing_a_process_fails_the_attempt_it_started() -> None:
    run = a_retrying_run()
    run.record(a_report(run, "a", "started", instance="old"), at(0))
    run.collect_events()

    outcome = run.abandon("a", 1, "worker_lost", "lost", at(1), worker="w1", instance="old")

    assert outcome is Recorded.APPLIED
    assert run.tasks["a"].cause == "worker_lost"


def test_losing_a_process_leaves_alone_the_attempt_its_successor_of_the_same_name_runs() -> None:
    run = a_retrying_run()
    run.record(a_report(run, "a", "started", instance="old"), at(0))
    run.record(a_report(run, "a", "started", delivery=2, instance="new"), at(1))
    run.collect_events()

    outcome = run.abandon("a", 1, "worker_lost", "lost", at(2), worker="w1", instance="old")

    assert outcome is Recorded.FENCED
    assert (run.tasks["a"].status, run.tasks["a"].instance) == (TaskStatus.RUNNING, "new")


def test_a_late_result_from_a_lost_process_changes_nothing() -> None:
    run = a_retrying_run()
    run.record(a_report(run, "a", "started", instance="old"), at(0))
    run.abandon("a", 1, "worker_lost", "lost", at(1), worker="w1", instance="old")
    run.collect_events()

    late = run.record(a_report(run, "a", "succeeded", instance="old"), at(2))

    assert late is Recorded.FENCED
    assert run.collect_events() == []


def test_an_attempt_whose_start_named_no_process_is_failed_by_worker_name_alone() -> None:
    run = started_run()

    outcome = run.abandon("a", 1, "worker_lost", "lost", at(1), worker="w1", instance="old")

    assert outcome is Recorded.APPLIED


def test_an_undeliverable_dispatch_fails_the_attempt_without_retry() -> None:
    run = a_retrying_run()

    run.abandon("a", 1, "undeliverable", "undeliverable after 5 deliveries", at(1))

    assert run.tasks["a"].cause == "undeliverable"
    assert run.status is RunStatus.FAILED


@pytest.mark.parametrize(
    ("rule", "outcome", "expected"),
    [
        ("all_success", "failed", TaskStatus.SKIPPED),
        ("all_done", "failed", TaskStatus.QUEUED),
        ("one_failed", "failed", TaskStatus.QUEUED),
        ("one_failed", "succeeded", TaskStatus.SKIPPED),
        ("all_failed", "failed", TaskStatus.QUEUED),
        ("all_failed", "succeeded", TaskStatus.SKIPPED),
    ],
)
def test_trigger_rules_decide_what_runs_after_a_dependency_finishes(
    rule: str, outcome: str, expected: TaskStatus
) -> None:
    tasks: list[dict[str, Any]] = [
        {"name": "a", "executor": "noop"},
        {"name": "after", "executor": "noop", "depends_on": ["a"], "trigger_rule": rule},
    ]
    run = a_run(a_spec(tasks=tasks))

    run.record(a_report(run, "a", outcome), at(1))

    assert run.tasks["after"].status is expected


def test_one_failed_fires_before_the_other_dependencies_finish() -> None:
    tasks: list[dict[str, Any]] = [
        {"name": "a", "executor": "noop"},
        {"name": "b", "executor": "noop"},
        {
            "name": "alert",
            "executor": "noop",
            "depends_on": ["a", "b"],
            "trigger_rule": "one_failed",
        },
    ]
    run = a_run(a_spec(tasks=tasks))

    run.record(a_report(run, "a", "failed"), at(1))

    assert run.tasks["alert"].status is TaskStatus.QUEUED
    assert run.tasks["b"].status is TaskStatus.QUEUED


def test_a_cleanup_task_that_succeeds_after_a_failure_leaves_the_run_failed() -> None:
    tasks: list[dict[str, Any]] = [
        {"name": "a", "executor": "noop"},
        {"name": "cleanup", "executor": "noop", "depends_on": ["a"], "trigger_rule": "all_done"},
    ]
    run = a_run(a_spec(tasks=tasks))
    run.record(a_report(run, "a", "failed"), at(1))

    run.record(a_report(run, "cleanup", "succeeded"), at(2))

    assert run.status is RunStatus.FAILED


def test_an_unfired_failure_handler_does_not_fail_the_run() -> None:
    tasks: list[dict[str, Any]] = [
        {"name": "a", "executor": "noop"},
        {"name": "alert", "executor": "noop", "depends_on": ["a"], "trigger_rule": "one_failed"},
    ]
    run = a_run(a_spec(tasks=tasks))

    run.record(a_report(run, "a", "succeeded"), at(1))

    assert run.status is RunStatus.SUCCEEDED


def test_outputs_of_dependencies_are_the_next_tasks_upstream() -> None:
    run = a_run()

    run.record(a_report(run, "a", "succeeded", output={"rows": 7}), at(1))

    assert run.upstream_outputs("b") == {"a": {"rows": 7}}


def test_only_a_finished_unsuccessful_run_can_be_linked_to_a_retry() -> None:
    run = a_run()

    with pytest.raises(RunNotRetryableError):
        run.link_retry(run.id, at(1))
