"""A fast attempt's start travels with its outcome: two events, recorded in one save."""

from collections.abc import Sequence

from aggregates.run import Recorded
from aggregates.task_state import TaskStatus
from tests.builders import a_report, a_run, an_origin


def names(events: Sequence[object]) -> list[str]:
    return [type(event).__name__ for event in events]


def test_an_outcome_that_includes_its_start_records_the_start_then_the_outcome() -> None:
    run = a_run()
    run.collect_events()

    outcome = run.record(a_report(run, "a", "succeeded", includes_start=True), an_origin())

    assert outcome is Recorded.APPLIED
    assert names(run.collect_events()) == [
        "TaskStarted",
        "TaskSucceeded",
        "TaskQueued",
        "TaskQueued",
    ]
    assert (run.tasks["a"].status, run.tasks["a"].worker) == (TaskStatus.SUCCEEDED, "w1")


def test_an_outcome_including_a_start_already_recorded_records_the_outcome_alone() -> None:
    run = a_run()
    run.record(a_report(run, "a", "started"), an_origin())
    run.collect_events()

    run.record(a_report(run, "a", "failed", includes_start=True, exit_code=1), an_origin())

    assert names(run.collect_events())[:1] == ["TaskFailed"]


def test_a_fenced_outcome_records_no_start_either() -> None:
    run = a_run()
    run.collect_events()

    outcome = run.record(
        a_report(run, "a", "succeeded", attempt=2, includes_start=True), an_origin()
    )

    assert outcome is Recorded.FENCED
    assert run.collect_events() == []
