"""History, point-in-time reads and the audit log on real PostgreSQL."""

from datetime import timedelta
from uuid import UUID

import pytest

from aggregates.errors import OutsideHistoryError, RunNotFoundError
from aggregates.run import TaskReport
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from engine.audit import AuditQuery
from ops.settings import Settings
from tests.unit.test_reconstruction import (
    SnapshottingLedgerflow,
    a_run_whose_tasks_each_fail_once,
    exactly,
)

pytestmark = pytest.mark.integration

SPEC = {
    "name": "etl",
    "tasks": [
        {"name": "extract", "command": "echo e"},
        {"name": "load", "command": "echo l", "depends_on": ["extract"]},
    ],
}


def a_run_with_extract_done(engine: Ledgerflow) -> UUID:
    """RunStarted, TaskQueued, TaskStarted, TaskSucceeded, TaskQueued(load): version 5."""
    engine.register_workflow("default", WorkflowSpec.model_validate(SPEC), engine.origin("alice"))
    run_id = engine.start_run("default", "etl", {}, engine.origin("alice", "req-1"))[0].id
    reports = [
        TaskReport(run_id, "default", "extract", 1, 1, "w1", "started"),
        TaskReport(run_id, "default", "extract", 1, 1, "w1", "succeeded", output={"n": 1}),
    ]
    engine.record_reports(reports)
    return run_id


def test_the_history_filters_by_type_in_the_store(engine: Ledgerflow) -> None:
    run_id = a_run_with_extract_done(engine)

    entries = engine.run_history("default", run_id, types=["TaskQueued"])

    assert [(e.type, e.version, e.data["task"]) for e in entries] == [
        ("TaskQueued", 2, "extract"),
        ("TaskQueued", 5, "load"),
    ]


def test_a_run_as_of_a_version_or_an_instant_is_rebuilt_from_its_events(
    engine: Ledgerflow,
) -> None:
    run_id = a_run_with_extract_done(engine)
    third = engine.run_history("default", run_id)[2]

    by_version = engine.run_as_of("default", run_id, version=3)
    by_instant = engine.run_as_of("default", run_id, at=third.timestamp)

    assert by_version.tasks["extract"].status == "running"
    assert by_instant.version >= 3
    with pytest.raises(OutsideHistoryError):
        engine.run_as_of("default", run_id, version=6)
    with pytest.raises(OutsideHistoryError):
        engine.run_as_of("default", run_id, at=third.timestamp - timedelta(days=1))
    with pytest.raises(RunNotFoundError):
        engine.run_as_of("other", run_id, version=1)


def test_the_audit_log_query_filters_by_tenant_actor_type_and_time(engine: Ledgerflow) -> None:
    run_id = a_run_with_extract_done(engine)
    engine.cancel_run("default", run_id, "stop", engine.origin("bob", "req-2"))
    everything = engine.audit("default", AuditQuery(limit=100))
    cancel_at = everything[-1].timestamp

    by_bob = engine.audit("default", AuditQuery(actor="bob"))
    registered = engine.audit("default", AuditQuery(types=["WorkflowRegistered"]))
    before = engine.audit("default", AuditQuery(until=cancel_at, limit=100))
    after_first = engine.audit("default", AuditQuery(after=everything[0].position, limit=2))

    assert [(e.type, e.correlation_id) for e in by_bob] == [("RunCancelled", "req-2")]
    assert [e.actor for e in registered] == ["alice"]
    assert len(before) == len(everything) - 1
    assert [e.position for e in after_first] == [e.position for e in everything[1:3]]
    assert engine.audit("other", AuditQuery()) == []


def test_a_run_as_of_a_version_is_rebuilt_from_the_snapshot_before_it(settings: Settings) -> None:
    engine = SnapshottingLedgerflow(env=settings.eventsourcing_env())
    try:
        run_id, reported = a_run_whose_tasks_each_fail_once(engine)
        versions = range(1, max(reported) + 1)

        from_snapshots = [exactly(engine.run_as_of("default", run_id, version=v)) for v in versions]

        assert engine.snapshots is not None
        assert len(list(engine.snapshots.get(run_id))) == max(reported) // 4
        assert from_snapshots == [
            exactly(engine.repository.get(run_id, version=v)) for v in versions
        ]
    finally:
        engine.close()
