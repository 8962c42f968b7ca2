"""Forking on the Run aggregate: the parent records only the link, the child starts linked."""

from uuid import uuid4

import pytest

from aggregates.errors import OutsideHistoryError
from aggregates.run import ForkLink, Run, RunStatus
from aggregates.task_state import TaskStatus
from tests.builders import a_run, a_spec, an_origin, finish


def test_forking_a_running_run_records_only_the_link_on_it() -> None:
    parent = a_run()
    finish(parent, "a")
    child_id = uuid4()

    parent.link_fork(child_id, 2, an_origin())

    (forked,) = parent.collect_events()
    assert isinstance(forked, Run.Forked)
    assert (forked.fork_run_id, forked.from_version) == (str(child_id), 2)
    assert parent.forked_by == [ForkLink(child_id, 2)]
    assert parent.status is RunStatus.RUNNING


@pytest.mark.parametrize("past_the_head", [-7, -1, 1])
def test_a_version_outside_the_parents_history_names_from_version(past_the_head: int) -> None:
    parent = a_run()
    finish(parent, "a")
    version = parent.version + past_the_head if past_the_head > 0 else past_the_head + 1

    with pytest.raises(OutsideHistoryError) as raised:
        parent.link_fork(uuid4(), version, an_origin())

    assert [problem.loc for problem in raised.value.problems] == ["from_version"]
    assert parent.collect_events() == []


def test_a_forked_run_starts_linked_to_its_parent_and_reuses_the_given_outputs() -> None:
    parent_id = uuid4()

    child = Run.start(
        run_id=uuid4(),
        tenant="default",
        spec=a_spec(),
        workflow_version=1,
        inputs={},
        request_hash="hash",
        trigger="fork",
        origin=an_origin(),
        reused={"a": {"rows": 3}},
        fork_of=ForkLink(parent_id, 4),
    )

    names = [type(event).__name__ for event in child.collect_events()]
    assert names == ["Started", "ForkedFrom", "TaskReused", "TaskQueued", "TaskQueued"]
    assert child.forked_from == ForkLink(parent_id, 4)
    assert child.retry_of is None
    a = child.tasks["a"]
    assert (a.status, a.output, a.reused_from) == (
        TaskStatus.SUCCEEDED,
        {"rows": 3},
        str(parent_id),
    )
