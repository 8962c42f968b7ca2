"""A large event history written by batched appends: runs built with the Run aggregate's own
commands (start, then worker reports), a batch of them saved in one transaction."""

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from aggregates.errors import WorkflowNotFoundError
from aggregates.names import DEFAULT_TENANT
from aggregates.provenance import Origin
from aggregates.run import Run, TaskReport
from aggregates.spec import WorkflowSpec
from aggregates.workflow import Workflow
from engine.application import Ledgerflow

WORKFLOW = "bench-read"
WORKER = "bench-worker"
BATCH_RUNS = 100
SUCCEEDED_SHARE = 0.6
FAILED_SHARE = 0.3  # the rest: 5 % running, 5 % still queued
RUN_SPACING = timedelta(milliseconds=10)
"""Runs are created this far apart in (past) time, as a steady stream would have made them."""


@dataclass(frozen=True)
class Seeded:
    """What seeding wrote."""

    runs: int
    events: int
    seconds: float
    head: int
    """The log position after the last batch."""

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def seed(engine: Ledgerflow, events: int, *, batch_runs: int = BATCH_RUNS) -> Seeded:
    """Append at least `events` events: batches of `batch_runs` runs, one transaction each."""
    workflow = _the_workflow(engine)
    rng = random.Random(20260501)
    count = max(1, events // 5)  # a finished one-task run takes 5 events
    first = datetime.now(UTC) - RUN_SPACING * count
    written = runs = 0
    started = time.perf_counter()
    while written < events:
        batch = [
            _a_run(workflow, rng, first + RUN_SPACING * (runs + index))
            for index in range(batch_runs)
        ]
        written += len(engine.save(*batch))
        runs += len(batch)
    seconds = time.perf_counter() - started
    head = engine.recorder.max_notification_id() or 0
    return Seeded(runs=runs, events=written, seconds=seconds, head=head)


def _the_workflow(engine: Ledgerflow) -> Workflow:
    origin = engine.origin("bench:seed")
    try:
        return engine.get_workflow(DEFAULT_TENANT, WORKFLOW)
    except WorkflowNotFoundError:
        spec = WorkflowSpec.model_validate(
            {"name": WORKFLOW, "tasks": [{"name": "t", "executor": "noop"}]}
        )
        return engine.register_workflow(DEFAULT_TENANT, spec, origin)


def _a_run(workflow: Workflow, rng: random.Random, at: datetime) -> Run:
    """A run started at `at`; most have run their task to success or failure since."""
    origin = Origin(actor="bench:seed", correlation_id=f"seed-{rng.getrandbits(32):08x}", at=at)
    run = Run.start(
        run_id=uuid4(),
        tenant=DEFAULT_TENANT,
        spec=workflow.spec(),
        workflow_version=workflow.current_version,
        inputs={"n": rng.randrange(1_000_000)},
        request_hash="bench-read",
        trigger="api",
        origin=origin,
    )
    fate = rng.random()
    if fate < SUCCEEDED_SHARE + FAILED_SHARE + 0.05:
        run.record(_report(run.id, "started"), _later(origin, 5))
    if fate < SUCCEEDED_SHARE:
        run.record(_report(run.id, "succeeded", exit_code=0), _later(origin, 40))
    elif fate < SUCCEEDED_SHARE + FAILED_SHARE:
        run.record(_report(run.id, "failed", exit_code=1, error="exit 1"), _later(origin, 40))
    return run


def _report(
    run_id: UUID, outcome: Literal["started", "succeeded", "failed"], **fields: Any
) -> TaskReport:
    return TaskReport(run_id, DEFAULT_TENANT, "t", 1, 1, WORKER, outcome, **fields)


def _later(origin: Origin, milliseconds: int) -> Origin:
    return Origin(
        origin.actor, origin.correlation_id, origin.at + timedelta(milliseconds=milliseconds)
    )
