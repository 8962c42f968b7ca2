"""Point-in-time reconstruction: the run at each version is what the live system reported then."""

from typing import Any, ClassVar
from uuid import UUID

from aggregates.names import DEFAULT_TENANT
from aggregates.run import Run, TaskReport
from engine.application import Ledgerflow
from tests.builders import a_spec
from tests.unit.test_event_versions import MEMORY
from tests.unit.test_http_builders import an_engine

TASKS = [f"t{n}" for n in range(1, 7)]


def state(run: Run) -> tuple[Any, ...]:
    """Everything a reader of the run sees: its status and every task's state."""
    return (run.status, run.version, dict(run.tasks))


def report(run_id: UUID, task: str, attempt: int, outcome: str) -> TaskReport:
    output = {"task": task, "attempt": attempt} if outcome == "succeeded" else None
    return TaskReport(
        run_id, DEFAULT_TENANT, task, attempt, 1, "w1", outcome,  # type: ignore[arg-type]
        exit_code=0 if outcome == "succeeded" else 3, output=output,
    )  # fmt: skip


def a_run_whose_tasks_each_fail_once(engine: Ledgerflow) -> tuple[UUID, dict[int, tuple[Any, ...]]]:
    """Six parallel tasks, each failing its first attempt and succeeding its second; the
    state the live system reported after every command, by the run's version then."""
    tasks = [{"name": name, "executor": "noop"} for name in TASKS]
    spec = a_spec("flaky", tasks).model_copy(
        update={
            "retry": a_spec().retry.model_copy(update={"max_attempts": 2, "initial_seconds": 0})
        }
    )
    engine.register_workflow(DEFAULT_TENANT, spec, engine.origin("t"))
    run, _ = engine.start_run(DEFAULT_TENANT, "flaky", {}, engine.origin("t"))
    reported = {run.version: state(engine.get_run(DEFAULT_TENANT, run.id))}

    def live() -> None:
        current = engine.get_run(DEFAULT_TENANT, run.id)
        reported[current.version] = state(current)

    for task in TASKS:
        for outcome in ("started", "failed"):
            engine.record_reports([report(run.id, task, 1, outcome)])
            live()
        engine.requeue_retry(run.id, task, 1)
        live()
        for outcome in ("started", "succeeded"):
            engine.record_reports([report(run.id, task, 2, outcome)])
            live()
    return run.id, reported


def test_the_run_at_every_version_is_the_state_reported_at_that_moment() -> None:
    engine = an_engine()
    run_id, reported = a_run_whose_tasks_each_fail_once(engine)

    rebuilt = {
        version: state(engine.run_as_of(DEFAULT_TENANT, run_id, version=version))
        for version in reported
    }

    assert max(reported) >= 30
    assert engine.get_run(DEFAULT_TENANT, run_id).status.value == "succeeded"
    assert rebuilt == reported


class SnapshottingLedgerflow(Ledgerflow):
    """Snapshots a run at every 4th version, so even a short run is rebuilt from snapshots."""

    name = "Ledgerflow"  # the same tables
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Run: 4}


def exactly(run: Run) -> list[tuple[str, str]]:
    """Every attribute of the run with its exact type (an enum is not its value, a tuple
    not a list), as `repr` shows them."""
    return sorted((name, repr(value)) for name, value in vars(run).items())


def test_a_run_rebuilt_from_a_snapshot_is_the_run_rebuilt_from_its_events_alone() -> None:
    engine = SnapshottingLedgerflow(env={"PERSISTENCE_MODULE": MEMORY})
    run_id, reported = a_run_whose_tasks_each_fail_once(engine)
    child, _ = engine.fork_run(DEFAULT_TENANT, run_id, 20, engine.origin("t"))
    events_only = an_engine()
    for aggregate_id in (run_id, child.id):
        events_only.recorder.insert_events(engine.recorder.select_events(aggregate_id))

    rebuilt = {
        (aggregate_id, version): exactly(engine.past.get(aggregate_id, version=version))
        for aggregate_id, head in ((run_id, max(reported)), (child.id, child.version))
        for version in range(1, head + 1)
    }

    assert engine.snapshots is not None
    assert len(list(engine.snapshots.get(run_id))) == max(reported) // 4
    assert len(list(engine.snapshots.get(child.id))) >= 1
    assert rebuilt == {
        (aggregate_id, version): exactly(events_only.repository.get(aggregate_id, version=version))
        for aggregate_id, version in rebuilt
    }


def test_a_run_as_of_an_instant_is_the_run_after_the_last_event_recorded_by_then() -> None:
    engine = an_engine()
    run_id, _ = a_run_whose_tasks_each_fail_once(engine)
    history = engine.run_history(DEFAULT_TENANT, run_id, limit=500)

    versions = {
        event.timestamp: engine.run_as_of(DEFAULT_TENANT, run_id, at=event.timestamp).version
        for event in history
    }

    # One command's events share its instant: the latest of them is the state then.
    assert len(versions) < len(history)
    assert versions == {
        at: max(event.version for event in history if event.timestamp <= at) for at in versions
    }
