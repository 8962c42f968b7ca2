"""A copy of a run (the library copies a cached run for each command) is the run's equal, and
a command on it leaves the original as it was."""

import copy
from uuid import uuid4

from aggregates.run import Run
from tests.builders import a_report, a_run, an_origin, finish


def test_a_copy_equals_the_run() -> None:
    run = a_run()
    finish(run, "a")

    copied = copy.deepcopy(run)

    assert repr(vars(copied)) == repr(vars(run))
    assert copied is not run


def test_a_command_on_a_copy_leaves_the_original_as_it_was() -> None:
    run = a_run()
    run.collect_events()  # as saved: nothing pending
    before = repr(vars(run))

    copied = copy.deepcopy(run)
    copied.record(a_report(copied, "a", "succeeded", exit_code=0), an_origin())
    copied.cancel("enough", an_origin())
    copied.link_retry(uuid4(), an_origin())
    copied.link_fork(uuid4(), 2, an_origin())

    assert repr(vars(run)) == before
    assert run.collect_events() == []
    assert [type(e).__name__ for e in copied.collect_events()][-4:] == [
        "TaskQueued",
        "Cancelled",
        "Retried",
        "Forked",
    ]


def test_a_copy_in_a_copied_structure_is_made_once() -> None:
    run = a_run()

    pair = copy.deepcopy([run, run])

    assert pair[0] is pair[1]
    assert isinstance(pair[0], Run)
