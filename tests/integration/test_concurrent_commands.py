"""Many commands on one run at once, on real PostgreSQL (RELIABILITY.md's last fault row):
worker reports (with duplicates), a cancel and retries race; every command either takes effect
or says why not, nothing is lost, and the run's history is a valid sequence."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aggregates.errors import DomainError
from aggregates.run import Recorded, Run, TaskReport
from engine.application import Ledgerflow
from tests.builders import a_spec

pytestmark = pytest.mark.integration

TASKS = 12
TERMINAL = {"Run.Succeeded", "Run.Failed", "Run.Cancelled"}


def a_wide_run(engine: Ledgerflow) -> Run:
    tasks = [{"name": f"t{n:02d}", "command": "true"} for n in range(TASKS)]
    engine.apply_workflow("default", a_spec("wide", tasks), engine.origin("t"))
    run, _ = engine.start_run("default", "wide", {}, engine.origin("t"))
    return run


def report(run: Run, task: int, outcome: str, worker: str = "w1") -> TaskReport:
    return TaskReport(run.id, "default", f"t{task:02d}", 1, 1, worker, outcome)  # type: ignore[arg-type]


def test_reports_a_cancel_and_retries_racing_on_one_run_lose_nothing(engine: Ledgerflow) -> None:
    run = a_wide_run(engine)
    commands: list[Any] = []
    for task in range(TASKS):
        commands.append(lambda t=task: engine.record_reports([report(run, t, "started")]))
        commands.append(lambda t=task: engine.record_reports([report(run, t, "succeeded")]))
        # The same result again, as a redelivery from another recorder replica would bring it.
        commands.append(lambda t=task: engine.record_reports([report(run, t, "succeeded", "w2")]))
    commands.insert(
        len(commands) // 2, lambda: engine.cancel_run("default", run.id, "stop", engine.origin("t"))
    )
    commands += [lambda: engine.retry_run("default", run.id, engine.origin("t"))] * 3

    def attempt(command: Any) -> object:
        try:
            return command()
        except DomainError as refused:  # e.g. a retry of a run still running: said, not lost
            return refused

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, commands))

    events = list(engine.events.get(run.id))
    names = [type(event).__qualname__ for event in events]
    assert [event.originator_version for event in events] == list(range(1, len(events) + 1))
    # One terminal event, and nothing after it but retry links.
    terminal = [index for index, name in enumerate(names) if name in TERMINAL]
    assert len(terminal) == 1, names
    assert all(name == "Run.Retried" for name in names[terminal[0] + 1 :]), names
    # At most one outcome per task attempt, and one start.
    for task in range(TASKS):
        of_task = [
            type(e).__qualname__ for e in events if getattr(e, "task", None) == f"t{task:02d}"
        ]
        assert of_task.count("Run.TaskStarted") <= 1, of_task
        assert sum(name in {"Run.TaskSucceeded", "Run.TaskFailed"} for name in of_task) <= 1
    # Every report a command says it applied is in the history (no lost update).
    applied = sum(
        1 for outcome in outcomes if isinstance(outcome, list) and outcome == [Recorded.APPLIED]
    )
    recorded = sum(name in {"Run.TaskStarted", "Run.TaskSucceeded"} for name in names)
    assert applied == recorded
    # The cancel either ended the run or found it already ended, and said so.
    final = engine.get_run("default", run.id)
    assert final.status.is_terminal
