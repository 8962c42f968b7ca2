"""Forking a run on real PostgreSQL: the new run and both links are saved in one transaction."""

import pytest

from aggregates.run import ForkLink
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from tests.builders import a_report, a_spec

pytestmark = pytest.mark.integration


def test_a_fork_from_a_version_reuses_what_had_succeeded_and_both_histories_link(
    engine: Ledgerflow,
) -> None:
    engine.register_workflow("default", a_spec(), engine.origin("tester"))
    parent, _ = engine.start_run("default", "hello", {"n": 1}, engine.origin("t"))
    engine.record_reports([a_report(parent, "a", "succeeded", output={"rows": 3})])
    engine.record_reports([a_report(parent, "b", "failed", error="boom")])
    # 1 Started, 2 TaskQueued a, 3 TaskSucceeded a, 4-5 TaskQueued b and c, 6 TaskFailed b
    before = engine.get_run("default", parent.id)

    child, created = engine.fork_run("default", parent.id, 3, engine.origin("t"), "fork-key")
    again, created_again = engine.fork_run("default", parent.id, 3, engine.origin("t"), "fork-key")

    assert (created, created_again, again.id) == (True, False, child.id)
    stored = engine.get_run("default", child.id)
    assert stored.forked_from == ForkLink(parent.id, 3)
    assert (stored.tasks["a"].status, stored.tasks["a"].output) == (
        TaskStatus.SUCCEEDED,
        {"rows": 3},
    )
    assert [stored.tasks[name].status for name in "bc"] == [TaskStatus.QUEUED] * 2
    after = engine.get_run("default", parent.id)
    assert after.forked_by == [ForkLink(child.id, 3)]
    assert (after.version, after.status) == (before.version + 1, before.status)
    parent_history = engine.run_history("default", parent.id)
    assert (parent_history[-1].type, parent_history[-1].data) == (
        "RunForked",
        {"fork_run_id": str(child.id), "from_version": 3},
    )
    child_history = engine.run_history("default", child.id)
    assert [entry.type for entry in child_history][:3] == [
        "RunStarted",
        "RunForkedFrom",
        "TaskReused",
    ]
    assert child_history[0].position < child_history[1].position
