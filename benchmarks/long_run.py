"""One run with a long history (about 10,000 events), written with the Run aggregate's own
commands and saved in batches: 909 tasks, each failing twice before it succeeds."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from aggregates.names import DEFAULT_TENANT
from aggregates.provenance import Origin
from aggregates.run import Run, TaskReport
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow

TASKS = 909
"""Each task takes 11 events (queued, then 3 x started, 2 x failed and retry scheduled, 2 x
queued again, and succeeded): 909 tasks, `RunStarted` and `RunSucceeded` make 10,001."""
ATTEMPTS = 3
TASKS_PER_SAVE = 50
WORKER = "bench-worker"
_STEP = timedelta(seconds=1)


@dataclass(frozen=True)
class LongRun:
    """The run written, and how long writing it took."""

    run_id: UUID
    events: int
    seconds: float


def write_long_run(engine: Ledgerflow, tasks: int = TASKS) -> LongRun:
    """Start a run of `tasks` independent tasks and play every attempt to its end, saving the
    new events every `TASKS_PER_SAVE` tasks (one transaction each)."""
    clock = _Clock(datetime.now(UTC) - _STEP * tasks * 20)
    spec = WorkflowSpec.model_validate(
        {
            "name": "bench-long-run",
            "tasks": [{"name": f"t{index}", "executor": "noop"} for index in range(tasks)],
            "retry": {"max_attempts": ATTEMPTS, "initial_seconds": 1, "jitter": False},
        }
    )
    started = time.perf_counter()
    run = Run.start(
        run_id=uuid4(),
        tenant=DEFAULT_TENANT,
        spec=spec,
        workflow_version=0,
        inputs={},
        request_hash="bench-long-run",
        trigger="adhoc",
        origin=clock.origin(),
    )
    written = len(engine.save(run))
    for index in range(tasks):
        _play(run, f"t{index}", clock)
        if (index + 1) % TASKS_PER_SAVE == 0 or index + 1 == tasks:
            written += len(engine.save(run))
    return LongRun(run.id, written, time.perf_counter() - started)


def _play(run: Run, task: str, clock: "_Clock") -> None:
    """Fail the task's first attempts, queue each retry once due, then succeed."""
    for attempt in range(1, ATTEMPTS + 1):
        run.record(_report(run.id, task, attempt, "started"), clock.origin())
        if attempt < ATTEMPTS:
            failed = _report(run.id, task, attempt, "failed", exit_code=1, error="exit 1")
            run.record(failed, clock.origin())
            clock.skip(minutes=1)  # past the backoff
            run.requeue(task, attempt + 1, clock.origin())
        else:
            run.record(_report(run.id, task, attempt, "succeeded", exit_code=0), clock.origin())


def _report(
    run_id: UUID,
    task: str,
    attempt: int,
    outcome: Literal["started", "succeeded", "failed"],
    **fields: Any,
) -> TaskReport:
    return TaskReport(run_id, DEFAULT_TENANT, task, attempt, 1, WORKER, outcome, **fields)


class _Clock:
    """Instants one second apart (or further after `skip`), for the commands' origins."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def origin(self) -> Origin:
        self._now += _STEP
        return Origin(actor="bench:seed", correlation_id="bench-long-run", at=self._now)

    def skip(self, minutes: int) -> None:
        self._now += timedelta(minutes=minutes)
