"""Builders for domain objects in tests: a workflow spec, a run, a report, an origin."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from aggregates.names import DEFAULT_TENANT
from aggregates.provenance import Origin
from aggregates.run import Run, TaskReport
from aggregates.spec import WorkflowSpec

AN_INSTANT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def an_origin(actor: str = "tester") -> Origin:
    return Origin(actor=actor, correlation_id="corr-1", at=AN_INSTANT)


def a_spec(name: str = "hello", tasks: list[dict[str, Any]] | None = None) -> WorkflowSpec:
    """A → (B, C) by default, the README's workflow."""
    return WorkflowSpec.model_validate(
        {
            "name": name,
            "tasks": tasks
            or [
                {"name": "a", "command": "echo a"},
                {"name": "b", "command": "echo b", "depends_on": ["a"]},
                {"name": "c", "command": "echo c", "depends_on": ["a"]},
            ],
        }
    )


def a_new_run(spec: WorkflowSpec | None = None, run_id: UUID | None = None) -> Run:
    """A run just started, its events not yet saved."""
    return Run.start(
        run_id=run_id or uuid4(),
        tenant=DEFAULT_TENANT,
        spec=spec or a_spec(),
        workflow_version=1,
        inputs={},
        request_hash="hash",
        trigger="api",
        origin=an_origin(),
    )


def a_run(spec: WorkflowSpec | None = None, run_id: UUID | None = None) -> Run:
    run = a_new_run(spec, run_id)
    run.collect_events()
    return run


def a_report(run: Run, task: str, outcome: str, **fields: Any) -> TaskReport:
    values: dict[str, Any] = {
        "run_id": run.id,
        "tenant": run.tenant,
        "task": task,
        "attempt": 1,
        "delivery": 1,
        "worker": "w1",
        "outcome": outcome,
    }
    values.update(fields)
    return TaskReport(**values)


def finish(run: Run, task: str, outcome: str = "succeeded", **fields: Any) -> None:
    """Start and finish task `task` of `run`, discarding the pending events."""
    run.record(a_report(run, task, "started", **fields), an_origin())
    run.record(a_report(run, task, outcome, **fields), an_origin())
    run.collect_events()
