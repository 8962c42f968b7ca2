"""A worker's liveness and control: heartbeats, cancel signals, cancelled runs and draining."""

import asyncio
import importlib.metadata
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from streams.messages import CancelAttempt, WorkerHeartbeat
from streams.subjects import Subjects
from streams.topology import declare_cancelled_runs, declare_streams
from streams.worker import Worker
from tests.integration.test_worker import (
    ENV,
    HANG_SECONDS,
    POLL_SECONDS,
    a_dispatch,
    dispatches_left,
    publish,
    results,
    running,
)

pytestmark = pytest.mark.integration


# As in test_worker.py: the worker never touches PostgreSQL, so no migrated schema is needed.
@pytest.fixture
def nc(bare_nc: Client) -> Client:
    return bare_nc


@pytest.fixture
async def subjects(nc: Client, unique_name: str) -> Subjects:
    subjects = Subjects(prefix=unique_name)
    await declare_streams(nc.jetstream(), subjects)
    return subjects


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(int(HANG_SECONDS / POLL_SECONDS)):
        if condition():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError("still not true after the hang bound")


def process_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, not yet reaped) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def pid_in(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else None


async def test_a_worker_beats_while_running_then_says_it_drains_and_stops(
    nc: Client, subjects: Subjects
) -> None:
    beats: list[WorkerHeartbeat] = []

    async def collect(msg: Msg) -> None:
        beats.append(WorkerHeartbeat.model_validate_json(msg.data))

    await nc.subscribe(subjects.heartbeats("worker-1"), cb=collect)
    worker = Worker(
        nc, subjects, name="worker-1", queues=["default"], base_env=ENV, heartbeat_interval=0.1
    )

    async with running(worker):
        await until(lambda: len(beats) >= 3)
    await until(lambda: beats[-1].state == "stopped")

    states = [beat.state for beat in beats]
    assert states[:3] == ["running"] * 3
    assert states[-2:] == ["draining", "stopped"]
    first = beats[0]
    assert (first.name, first.instance, first.queues, first.capacity, first.in_flight) == (
        "worker-1",
        worker.identity.instance,
        ["default"],
        4,
        0,
    )
    assert first.version == importlib.metadata.version("ledgerflow")
    assert first.host == socket.gethostname()
    assert len({beat.instance for beat in beats}) == 1


async def test_a_cancel_signal_kills_a_running_task_which_reports_cancelled(
    nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    js = nc.jetstream()
    pid_file = tmp_path / "task.pid"
    dispatch = a_dispatch("shell", f"echo $$ > {pid_file}; exec sleep 60")
    await publish(js, subjects, dispatch)
    cancel = CancelAttempt(run_id=dispatch.run_id, task=dispatch.task, attempt=1)

    async with running(Worker(nc, subjects, name="worker-1", base_env=ENV)):
        [started] = await results(js, subjects, 1)
        await until(lambda: pid_in(pid_file) is not None)
        await nc.publish(subjects.control("worker-1"), cancel.model_dump_json().encode())
        [finished] = await results(js, subjects, 1)

    assert started.outcome == "started"
    assert (finished.outcome, finished.error, finished.delivery) == ("failed", "cancelled", 1)
    await until(lambda: not process_alive(pid_in(pid_file) or 0))
    assert await dispatches_left(js, subjects) == 0


async def test_a_task_of_a_run_in_the_cancelled_bucket_is_not_started(
    nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    js = nc.jetstream()
    marker = tmp_path / "ran"
    dispatch = a_dispatch("shell", f"touch {marker}")
    cancelled_runs = await declare_cancelled_runs(js, subjects)
    await cancelled_runs.put(str(dispatch.run_id), b"2024-05-01T00:00:00+00:00")
    await publish(js, subjects, dispatch)

    async with running(Worker(nc, subjects, name="worker-1", base_env=ENV)):
        [report] = await results(js, subjects, 1)

    assert (report.outcome, report.error) == ("failed", "run cancelled before start")
    assert not marker.exists()
    assert await dispatches_left(js, subjects) == 0


async def test_malformed_control_messages_are_counted_and_the_worker_carries_on(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    worker = Worker(nc, subjects, name="worker-1", base_env=ENV)

    async with running(worker):
        await publish(js, subjects, a_dispatch("noop"))
        await results(js, subjects, 2)  # the worker listens from now on
        await nc.publish(subjects.control("worker-1"), b"not json")
        await nc.publish(subjects.control("worker-1"), b'{"schema_version": 9}')
        await until(lambda: worker.malformed_control == 2)
        await publish(js, subjects, a_dispatch("noop"))
        reports = await results(js, subjects, 2)

    assert [report.outcome for report in reports] == ["started", "succeeded"]


async def test_a_task_still_running_after_the_drain_grace_is_handed_back_to_another_worker(
    nc: Client, subjects: Subjects, tmp_path: Path
) -> None:
    js = nc.jetstream()
    pid_file = tmp_path / "first.pid"
    command = f"if [ -e {pid_file} ]; then echo again; else echo $$ > {pid_file}; exec sleep 60; fi"
    await publish(js, subjects, a_dispatch("shell", command))
    first = Worker(nc, subjects, name="worker-1", concurrency=1, base_env=ENV, drain_grace=0.2)
    stop = asyncio.Event()
    serving = asyncio.create_task(first.run(stop))
    [started] = await results(js, subjects, 1)
    await until(lambda: pid_in(pid_file) is not None)

    stop.set()
    await asyncio.wait_for(serving, HANG_SECONDS)

    async with running(Worker(nc, subjects, name="worker-2", base_env=ENV)):
        again, finished = await results(js, subjects, 2)
    assert (started.worker, started.delivery) == ("worker-1", 1)
    assert (again.outcome, again.worker, again.delivery) == ("started", "worker-2", 2)
    assert (finished.outcome, finished.delivery, finished.stdout_tail) == (
        "succeeded",
        2,
        "again\n",
    )
    assert not process_alive(pid_in(pid_file) or 0)
    assert await dispatches_left(js, subjects) == 0
