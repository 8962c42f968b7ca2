"""The engine's use cases on real PostgreSQL: idempotency, positions and batched recording."""

from uuid import uuid4

import pytest

from aggregates.errors import (
    IdempotencyKeyReusedError,
    RunNotFoundError,
    WorkflowAlreadyExistsError,
)
from aggregates.run import Recorded, RunStatus
from engine.application import Applied, Ledgerflow
from ops.settings import Settings
from ops.system import build_engine
from tests.builders import a_report, a_spec

pytestmark = pytest.mark.integration


def test_a_registered_workflow_cannot_be_registered_again(engine: Ledgerflow) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))

    with pytest.raises(WorkflowAlreadyExistsError):
        engine.register_workflow("default", a_spec(), engine.origin("tester"))


def test_applying_the_same_definition_twice_is_a_no_op(engine: Ledgerflow) -> None:
    engine.apply_workflow("default", a_spec(), engine.origin("tester"))

    workflow, applied = engine.apply_workflow("default", a_spec(), engine.origin("tester"))

    assert applied is Applied.UNCHANGED
    assert workflow.current_version == 1


def test_the_same_idempotency_key_and_body_return_the_same_run(engine: Ledgerflow) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    first, created = engine.start_run("default", "hello", {"n": 1}, engine.origin("t"), "key-1")

    again, created_again = engine.start_run(
        "default", "hello", {"n": 1}, engine.origin("t"), "key-1"
    )

    assert (created, created_again) == (True, False)
    assert again.id == first.id


def test_the_same_idempotency_key_with_another_body_is_refused(engine: Ledgerflow) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    engine.start_run("default", "hello", {"n": 1}, engine.origin("t"), "key-1")
    head = engine.recorder.max_notification_id()

    with pytest.raises(IdempotencyKeyReusedError):
        engine.start_run("default", "hello", {"n": 2}, engine.origin("t"), "key-1")

    assert engine.recorder.max_notification_id() == head


def test_another_tenants_run_does_not_exist(engine: Ledgerflow) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))

    with pytest.raises(RunNotFoundError):
        engine.get_run("someone-else", run.id)


def test_history_lists_events_in_order_with_global_positions(engine: Ledgerflow) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("alice", "req-7"))

    history = engine.run_history("default", run.id)

    assert [entry.type for entry in history] == ["RunStarted", "TaskQueued"]
    assert [entry.version for entry in history] == [1, 2]
    assert history[0].position < history[1].position
    assert {(entry.actor, entry.correlation_id, entry.tenant) for entry in history} == {
        ("alice", "req-7", "default")
    }
    assert history[1].data == {"task": "a", "attempt": 1, "queue": "default"}


def test_a_batch_of_reports_is_recorded_in_one_go_and_duplicates_are_fenced(
    engine: Ledgerflow,
) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    other, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    success = a_report(run, "a", "succeeded", exit_code=0)

    outcomes = engine.record_reports(
        [success, success, a_report(other, "a", "started"), a_report(run, "a", "failed")]
    )

    assert outcomes == [Recorded.APPLIED, Recorded.FENCED, Recorded.APPLIED, Recorded.FENCED]
    assert engine.get_run("default", run.id).tasks["b"].status == "queued"
    assert engine.get_run("default", other.id).status is RunStatus.RUNNING


def test_a_report_for_an_unknown_run_is_marked_unknown(engine: Ledgerflow) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    stray = a_report(run, "a", "succeeded")
    stray = type(stray)(**{**stray.__dict__, "run_id": uuid4()})

    assert engine.record_reports([stray]) == [None]


def test_a_run_read_again_shows_what_another_process_recorded_since(
    engine: Ledgerflow, settings: Settings
) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    run, _ = engine.start_run("default", "hello", {}, engine.origin("t"))
    assert engine.get_run("default", run.id).tasks["a"].status == "queued"  # now in its cache
    other = build_engine(settings)  # another engine replica, its own cache
    try:
        other.record_reports([a_report(run, "a", "succeeded", exit_code=0)])
        stored = other.recorder.select_events(run.id)
    finally:
        other.close()

    again = engine.get_run("default", run.id)

    assert (again.tasks["a"].status, again.tasks["b"].status) == ("succeeded", "queued")
    assert again.version == len(stored) == 5  # each event applied once
