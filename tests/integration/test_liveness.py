"""The liveness monitor on real PostgreSQL and nats-server: heartbeats in, Worker events out."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import pytest
from nats.aio.client import Client as NatsClient

from aggregates.run import Run, TaskReport
from aggregates.task_state import TaskStatus
from aggregates.worker import Heartbeat, Worker, WorkerStatus
from engine.application import Ledgerflow
from streams.liveness import LivenessMonitor
from streams.messages import WorkerHeartbeat
from streams.subjects import Subjects
from tests.builders import a_spec

pytestmark = pytest.mark.integration

HANG = 30.0
INTERVAL = 0.2  # silence for more than 3 intervals (0.6 s) is a loss


async def eventually(check: Callable[[], Awaitable[bool]], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


def a_beat(
    name: str = "w1",
    instance: str = "i1",
    state: Literal["running", "draining", "stopped"] = "running",
) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        name=name,
        instance=instance,
        queues=["default"],
        capacity=2,
        in_flight=1,
        version="test",
        host="localhost",
        state=state,
        at=datetime.now(UTC),
    )


async def beat(nc: NatsClient, subjects: Subjects, heartbeat: WorkerHeartbeat) -> None:
    await nc.publish(subjects.heartbeats(heartbeat.name), heartbeat.model_dump_json().encode())
    await nc.flush()


def a_run_started_on(
    engine: Ledgerflow,
    worker: str,
    retry: dict[str, Any] | None = None,
    *,
    instance: str | None = None,
    workflow: str = "lonely",
) -> Run:
    """A one-task run whose attempt 1 a worker (process `instance`) has reported started."""
    task: dict[str, Any] = {"name": "a", "command": "sleep 60"}
    if retry is not None:
        task["retry"] = retry
    engine.apply_workflow("default", a_spec(workflow, [task]), engine.origin("tester"))
    run, _ = engine.start_run("default", workflow, {}, engine.origin("tester"))
    started = TaskReport(run.id, "default", "a", 1, 1, worker, "started", instance=instance)
    engine.record_reports([started])
    return run


def running_on_runs(engine: Ledgerflow, runs: Sequence[UUID]) -> Callable[[str], list[Any]]:
    """The attempts read model, reduced to the runs a test started."""

    def running_on(worker: str) -> list[tuple[UUID, str, int]]:
        attempts = []
        for run_id in runs:
            run = engine.load_run(run_id)
            assert run is not None
            attempts += [
                (run_id, name, state.attempt)
                for name, state in run.tasks.items()
                if state.status is TaskStatus.RUNNING and state.worker == worker
            ]
        return attempts

    return running_on


@contextlib.asynccontextmanager
async def beating(
    nc: NatsClient, subjects: Subjects, heartbeat: WorkerHeartbeat
) -> AsyncIterator[None]:
    """A process that keeps beating every interval, as a live worker does."""

    async def beat_forever() -> None:
        while True:
            await beat(nc, subjects, heartbeat)
            await asyncio.sleep(INTERVAL)

    task = asyncio.create_task(beat_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def monitoring(monitor: LivenessMonitor) -> AsyncIterator[LivenessMonitor]:
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    await asyncio.sleep(0.1)  # let it subscribe before the test beats
    try:
        yield monitor
    finally:
        stop.set()
        await asyncio.wait_for(task, HANG)


def a_monitor(
    engine: Ledgerflow,
    nc: NatsClient,
    subjects: Subjects,
    runs: Sequence[UUID] = (),
    *,
    registered: Sequence[tuple[str, str]] = (),
    missed: int = 3,
) -> LivenessMonitor:
    return LivenessMonitor(
        engine,
        nc,
        subjects,
        running_on_runs(engine, runs),
        lambda: list(registered),
        interval=INTERVAL,
        missed=missed,
    )


def worker_status(engine: Ledgerflow, name: str = "w1", instance: str = "i1") -> WorkerStatus:
    worker = engine.find_worker(name, instance)
    assert worker is not None
    return worker.status


def worker_events(engine: Ledgerflow, name: str = "w1", instance: str = "i1") -> list[str]:
    return [type(e).__name__ for e in engine.events.get(Worker.id_for(name, instance))]


def failures(engine: Ledgerflow, run_id: UUID) -> list[tuple[int, str, str | None]]:
    return [
        (event.attempt, event.cause, event.error)
        for event in engine.events.get(run_id)
        if isinstance(event, Run.TaskFailed)
    ]


async def test_a_worker_that_goes_silent_is_lost_and_its_attempt_fails_then_retries(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    run = a_run_started_on(engine, "w1", retry={"max_attempts": 2, "initial_seconds": 0.0})
    async with monitoring(a_monitor(engine, nc, subjects, runs=[run.id])) as monitor:
        await beat(nc, subjects, a_beat())
        await beat(nc, subjects, a_beat())

        await eventually(lambda: asyncio.to_thread(lambda: bool(failures(engine, run.id))))

    assert worker_events(engine) == ["Registered", "Lost"]
    ((attempt, cause, error),) = failures(engine, run.id)
    assert (attempt, cause) == (1, "worker_lost")
    assert error is not None
    assert error.startswith("worker w1 lost (no heartbeat for")
    task = engine.get_run("default", run.id).tasks["a"]
    assert (task.status, task.attempt) == (TaskStatus.QUEUED, 2)
    assert (monitor.counts["lost"], monitor.counts["failed_attempts"]) == (1, 1)


async def test_a_lost_attempt_without_retries_left_fails_the_run(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    run = a_run_started_on(engine, "w1")
    async with monitoring(a_monitor(engine, nc, subjects, runs=[run.id])):
        await beat(nc, subjects, a_beat())

        await eventually(lambda: asyncio.to_thread(lambda: bool(failures(engine, run.id))))

    assert engine.get_run("default", run.id).status.value == "failed"


async def test_a_worker_heard_from_again_after_being_lost_is_recorded_as_returned(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    async with monitoring(a_monitor(engine, nc, subjects)) as monitor:
        await beat(nc, subjects, a_beat())
        await eventually(lambda: _status_is(engine, WorkerStatus.LOST))

        await beat(nc, subjects, a_beat())

        await eventually(lambda: _status_is(engine, WorkerStatus.REGISTERED))
    assert worker_events(engine)[:3] == ["Registered", "Lost", "Returned"]
    assert monitor.counts["returned"] >= 1


async def test_a_registered_worker_never_heard_from_after_a_restart_is_lost(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    engine.record_heartbeat(Heartbeat("w2", "i9", ("default",), 1, "test", "localhost", "running"))
    run = a_run_started_on(engine, "w2")

    monitor = a_monitor(engine, nc, subjects, runs=[run.id], registered=[("w2", "i9")])
    async with monitoring(monitor):
        await eventually(lambda: asyncio.to_thread(lambda: bool(failures(engine, run.id))))

    assert worker_status(engine, "w2", "i9") is WorkerStatus.LOST
    assert [cause for _, cause, _ in failures(engine, run.id)] == ["worker_lost"]


async def test_a_worker_that_keeps_beating_is_registered_once_and_never_lost(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    # Beats every interval, the loss threshold is five: slack for a slow machine.
    async with monitoring(a_monitor(engine, nc, subjects, missed=5)) as monitor:
        for _ in range(15):  # 3 s: three times the loss threshold
            await beat(nc, subjects, a_beat())
            await asyncio.sleep(INTERVAL)

    assert worker_events(engine) == ["Registered"]
    assert monitor.counts["lost"] == 0


async def test_draining_and_stopping_are_recorded_and_a_stopped_worker_is_never_lost(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    async with monitoring(a_monitor(engine, nc, subjects)) as monitor:
        await beat(nc, subjects, a_beat(state="running"))
        await beat(nc, subjects, a_beat(state="draining"))
        await eventually(lambda: _status_is(engine, WorkerStatus.DRAINING))
        await beat(nc, subjects, a_beat(state="stopped"))
        await eventually(lambda: _status_is(engine, WorkerStatus.DEREGISTERED))

        await asyncio.sleep(INTERVAL * 6)

    assert worker_events(engine) == ["Registered", "Draining", "Deregistered"]
    assert monitor.counts["lost"] == 0


async def test_malformed_and_misaddressed_heartbeats_are_counted_and_change_nothing(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    async with monitoring(a_monitor(engine, nc, subjects)) as monitor:
        await nc.publish(subjects.heartbeats("w1"), b"{not json")
        await nc.publish(subjects.heartbeats("w1"), b'{"schema_version": 2}')
        await nc.publish(subjects.heartbeats("w9"), a_beat("w1").model_dump_json().encode())

        await beat(nc, subjects, a_beat("w3"))
        await eventually(lambda: _status_is(engine, WorkerStatus.REGISTERED, "w3"))

    assert (monitor.counts["malformed"], monitor.counts["mismatched"]) == (2, 1)
    assert engine.find_worker("w1", "i1") is None


async def test_a_lost_process_whose_name_lives_on_fails_its_own_attempts_and_no_others(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    old_run = a_run_started_on(engine, "w1", instance="old", workflow="before-restart")
    new_run = a_run_started_on(engine, "w1", instance="new", workflow="after-restart")
    monitor = a_monitor(engine, nc, subjects, runs=[old_run.id, new_run.id])
    async with monitoring(monitor), beating(nc, subjects, a_beat(instance="new")):
        await beat(nc, subjects, a_beat(instance="old"))

        await eventually(lambda: asyncio.to_thread(lambda: bool(failures(engine, old_run.id))))

    assert worker_status(engine, "w1", "old") is WorkerStatus.LOST
    assert worker_status(engine, "w1", "new") is WorkerStatus.REGISTERED
    assert [cause for _, cause, _ in failures(engine, old_run.id)] == ["worker_lost"]
    assert failures(engine, new_run.id) == []
    assert engine.get_run("default", new_run.id).tasks["a"].status is TaskStatus.RUNNING
    assert (monitor.counts["failed_attempts"], monitor.counts["fenced"]) == (1, 1)


async def _status_is(
    engine: Ledgerflow, status: WorkerStatus, name: str = "w1", instance: str = "i1"
) -> bool:
    worker = await asyncio.to_thread(engine.find_worker, name, instance)
    return worker is not None and worker.status is status
