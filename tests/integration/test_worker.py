"""The worker against a real nats-server: results reported, dispatches acked, poison terminated."""

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Literal
from uuid import uuid4

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from aggregates.spec import TaskSpec
from streams.messages import ExecuteTask, TaskReported
from streams.subjects import Subjects
from streams.topology import declare_streams
from streams.worker import Worker

pytestmark = pytest.mark.integration

HANG_SECONDS = 30.0
POLL_SECONDS = 0.05
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


# These override tests/integration/conftest.py's `nc` and `subjects` on purpose: the worker never
# touches PostgreSQL, so its tests need no migrated schema.
@pytest.fixture
def nc(bare_nc: Client) -> Client:
    return bare_nc


@pytest.fixture
async def subjects(nc: Client, unique_name: str) -> Subjects:
    subjects = Subjects(prefix=unique_name)
    await declare_streams(nc.jetstream(), subjects)
    return subjects


def a_dispatch(
    executor: Literal["shell", "noop"], command: str | None = None, task: str = "extract"
) -> ExecuteTask:
    return ExecuteTask(
        tenant="default",
        run_id=uuid4(),
        workflow="nightly",
        task=task,
        attempt=1,
        spec=TaskSpec(name=task, executor=executor, command=command, timeout_seconds=HANG_SECONDS),
    )


async def publish(js: JetStreamContext, subjects: Subjects, dispatch: ExecuteTask) -> None:
    await js.publish(
        subjects.dispatch(dispatch.queue),
        dispatch.model_dump_json().encode(),
        headers={"Nats-Msg-Id": dispatch.message_id},
    )


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, HANG_SECONDS)


async def results(js: JetStreamContext, subjects: Subjects, count: int) -> list[TaskReported]:
    """The next `count` result messages, acked, read as the recorder would."""
    subscription = await js.pull_subscribe_bind(
        consumer=subjects.results_consumer(0), stream=subjects.results_stream
    )
    reports: list[TaskReported] = []
    async with asyncio.timeout(HANG_SECONDS):
        while len(reports) < count:
            with contextlib.suppress(TimeoutError):
                for msg in await subscription.fetch(count - len(reports), timeout=1):
                    reports.append(TaskReported.model_validate_json(msg.data))
                    await msg.ack()
    await subscription.unsubscribe()
    return reports


async def dispatches_left(js: JetStreamContext, subjects: Subjects) -> int:
    """Dispatch messages still stored once acks had time to land (work-queue retention)."""
    polls = int(HANG_SECONDS / POLL_SECONDS)
    for _ in range(polls):
        left = (await js.stream_info(subjects.dispatch_stream)).state.messages
        if left == 0:
            break
        await asyncio.sleep(POLL_SECONDS)
    return left


def a_worker(nc: Client, subjects: Subjects) -> Worker:
    return Worker(nc, subjects, name="worker-1", base_env=ENV)


@pytest.mark.parametrize(
    "dispatch", [a_dispatch("noop"), a_dispatch("shell", "echo hi")], ids=["noop", "shell"]
)
async def test_a_dispatched_task_reports_started_then_succeeded_and_is_acked(
    nc: Client, subjects: Subjects, dispatch: ExecuteTask
) -> None:
    js = nc.jetstream()
    await publish(js, subjects, dispatch)

    async with running(a_worker(nc, subjects)):
        started, finished = await results(js, subjects, 2)

    assert (started.outcome, started.delivery, started.worker) == ("started", 1, "worker-1")
    assert (finished.outcome, finished.delivery, finished.exit_code) == ("succeeded", 1, 0)
    assert (finished.run_id, finished.task, finished.attempt) == (dispatch.run_id, "extract", 1)
    assert await dispatches_left(js, subjects) == 0


async def test_a_shell_task_reports_its_stdout_tail(nc: Client, subjects: Subjects) -> None:
    js = nc.jetstream()
    await publish(js, subjects, a_dispatch("shell", "echo hi"))

    async with running(a_worker(nc, subjects)):
        _, finished = await results(js, subjects, 2)

    assert finished.stdout_tail == "hi\n"


async def test_a_malformed_dispatch_is_terminated_counted_and_does_not_block_the_next(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    worker = a_worker(nc, subjects)
    await js.publish(subjects.dispatch("default"), b'{"schema_version": 1, "task": "x"}')
    await publish(js, subjects, a_dispatch("noop"))

    async with running(worker):
        reports = await results(js, subjects, 2)

    assert [report.outcome for report in reports] == ["started", "succeeded"]
    assert worker.rejected == 1
    assert await dispatches_left(js, subjects) == 0


async def test_a_dispatch_nested_too_deep_to_decode_is_terminated_at_once(
    nc: Client, subjects: Subjects
) -> None:
    # Found by the fault rig: describing the rejection re-decoded it with the stdlib, whose
    # RecursionError escaped, so the message looped until max_deliver.
    js = nc.jetstream()
    worker = a_worker(nc, subjects)
    await js.publish(subjects.dispatch("default"), b"[" * 10_000)
    await publish(js, subjects, a_dispatch("noop"))

    async with running(worker):
        reports = await results(js, subjects, 2)

    assert [report.outcome for report in reports] == ["started", "succeeded"]
    assert worker.rejected == 1
    assert await dispatches_left(js, subjects) == 0


async def test_a_dispatch_of_an_unknown_schema_version_is_terminated_naming_it(
    nc: Client, subjects: Subjects, caplog: pytest.LogCaptureFixture
) -> None:
    js = nc.jetstream()
    worker = a_worker(nc, subjects)
    future = a_dispatch("noop").model_dump(mode="json") | {"schema_version": 2}
    await js.publish(subjects.dispatch("default"), json.dumps(future).encode())
    await publish(js, subjects, a_dispatch("noop"))

    with caplog.at_level(logging.ERROR, logger="streams.worker"):
        async with running(worker):
            await results(js, subjects, 2)

    assert worker.rejected == 1
    assert "unknown schema_version 2" in caplog.text


async def test_a_failing_shell_command_reports_failed_with_its_exit_code(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await publish(js, subjects, a_dispatch("shell", "echo broken >&2; exit 3"))

    async with running(a_worker(nc, subjects)):
        _, finished = await results(js, subjects, 2)

    assert (finished.outcome, finished.exit_code, finished.error) == ("failed", 3, "exit code 3")
    assert finished.stderr_tail == "broken\n"
    assert await dispatches_left(js, subjects) == 0


async def test_a_stopping_worker_finishes_and_acks_the_attempt_in_flight(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await publish(js, subjects, a_dispatch("shell", "sleep 0.5; echo done"))
    stop = asyncio.Event()
    serving = asyncio.create_task(a_worker(nc, subjects).run(stop))
    await results(js, subjects, 1)  # started: the attempt is in flight

    stop.set()
    await asyncio.wait_for(serving, HANG_SECONDS)

    [finished] = await results(js, subjects, 1)
    assert (finished.outcome, finished.stdout_tail) == ("succeeded", "done\n")
    assert await dispatches_left(js, subjects) == 0


async def test_a_task_output_and_its_scrubbed_secrets_are_reported(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    command = """echo "$TOKEN"; printf '{"rows": 3}' > "$LEDGERFLOW_OUTPUT" """
    dispatch = a_dispatch("shell", command)
    spec = TaskSpec.model_validate(
        dispatch.spec.model_dump() | {"env": {"TOKEN": {"secret": "API"}}}
    )
    await publish(js, subjects, dispatch.model_copy(update={"spec": spec}))
    worker = Worker(
        nc, subjects, name="worker-1", base_env={**ENV, "LEDGERFLOW_SECRET_API": "tok-123456"}
    )

    async with running(worker):
        _, finished = await results(js, subjects, 2)

    assert (finished.outcome, finished.output) == ("succeeded", {"rows": 3})
    assert finished.stdout_tail == "***\n"


async def test_a_task_for_an_executor_this_worker_lacks_goes_to_a_peer_that_has_it(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    noop_only = Worker(nc, subjects, name="noop-only", base_env=ENV, executors=["noop"])
    shell = Worker(nc, subjects, name="shell-too", base_env=ENV, executors=["shell"])
    async with running(noop_only):
        await publish(js, subjects, a_dispatch("shell", "echo hi"))
        await asyncio.sleep(0.5)

        async with running(shell):
            started, finished = await results(js, subjects, 2)

    assert (finished.outcome, finished.worker) == ("succeeded", "shell-too")
    assert started.delivery >= 2


def test_a_worker_refuses_an_unknown_executor(nc: Client, subjects: Subjects) -> None:
    with pytest.raises(ValueError, match="executors must be some of"):
        Worker(nc, subjects, name="w", base_env=ENV, executors=["docker"])


async def test_a_task_ending_before_its_start_report_is_due_reports_once_with_its_start(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await publish(js, subjects, a_dispatch("noop"))
    worker = Worker(nc, subjects, name="worker-1", base_env=ENV, start_report_delay=HANG_SECONDS)

    async with running(worker):
        [finished] = await results(js, subjects, 1)

    assert (finished.outcome, finished.includes_start) == ("succeeded", True)
    assert (await js.stream_info(subjects.results_stream)).state.messages == 0
    assert await dispatches_left(js, subjects) == 0


async def test_a_task_outlasting_its_start_report_delay_reports_started_then_its_outcome(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await publish(js, subjects, a_dispatch("shell", "sleep 2"))
    worker = Worker(nc, subjects, name="worker-1", base_env=ENV, start_report_delay=0.05)

    async with running(worker):
        started, finished = await results(js, subjects, 2)

    assert (started.outcome, finished.outcome) == ("started", "succeeded")
    assert not finished.includes_start


async def test_a_task_outlasting_a_short_ack_wait_is_kept_alive_and_not_redelivered(
    nc: Client, subjects: Subjects
) -> None:
    js = nc.jetstream()
    await publish(js, subjects, a_dispatch("shell", "sleep 3"))
    worker = Worker(nc, subjects, name="worker-1", base_env=ENV, ack_wait=1.0)

    async with running(worker):
        started, finished = await results(js, subjects, 2)

    # A redelivery while it ran would have reported a second start (delivery 2) first.
    assert (started.outcome, started.delivery) == ("started", 1)
    assert (finished.outcome, finished.delivery) == ("succeeded", 1)
    assert await dispatches_left(js, subjects) == 0


def test_a_worker_refuses_an_ack_wait_that_is_not_positive(nc: Client, subjects: Subjects) -> None:
    with pytest.raises(ValueError, match="ack wait must be positive"):
        Worker(nc, subjects, name="w", base_env=ENV, ack_wait=0.0)
