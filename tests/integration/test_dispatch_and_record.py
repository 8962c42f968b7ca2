"""The dispatcher and the result recorder against real PostgreSQL and nats-server."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from nats.aio.client import Client as NatsClient

from aggregates.run import RunStatus
from engine.application import Ledgerflow
from ops.system import DISPATCHER_TRACKING_TABLE, build_tracking
from streams.dispatcher import Dispatcher
from streams.messages import ExecuteTask, TaskReported
from streams.recorder import ResultRecorder
from streams.subjects import Subjects
from tests.builders import a_spec

pytestmark = pytest.mark.integration

HANG = 30.0


async def eventually(check: Callable[[], Awaitable[bool]], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


async def dispatched(nc: NatsClient, subjects: Subjects) -> int:
    info = await nc.jetstream().stream_info(subjects.dispatch_stream)
    return int(info.state.messages)


async def dispatch_until(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects, expected: int
) -> Dispatcher:
    dispatcher = Dispatcher(
        engine, build_tracking(engine, DISPATCHER_TRACKING_TABLE), nc.jetstream(), subjects
    )
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    await eventually(lambda: _at_least(dispatched(nc, subjects), expected))
    await eventually(lambda: _position_reached(engine, dispatcher))
    stop.set()
    await running
    return dispatcher


async def _at_least(count: Awaitable[int], expected: int) -> bool:
    return await count >= expected


async def _position_reached(engine: Ledgerflow, dispatcher: Dispatcher) -> bool:
    head = await asyncio.to_thread(engine.recorder.max_notification_id)
    return await asyncio.to_thread(lambda: dispatcher.position) >= (head or 0)


def start_runs(engine: Ledgerflow, count: int) -> list[object]:
    engine.apply_workflow("default", a_spec(), engine.origin("tester"))
    return [
        engine.start_run("default", "hello", {"i": i}, engine.origin("t"))[0] for i in range(count)
    ]


async def test_two_dispatchers_on_one_position_both_keep_running_and_publish_each_task_once(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    # Found by the fault rig: every engine replica runs a dispatcher; the one that recorded a
    # position the other had already recorded died of the IntegrityError, and its engine too.
    dispatchers = [
        Dispatcher(
            engine, build_tracking(engine, DISPATCHER_TRACKING_TABLE), nc.jetstream(), subjects
        )
        for _ in range(2)
    ]
    stop = asyncio.Event()
    running = [asyncio.create_task(d.run(stop)) for d in dispatchers]
    engine.apply_workflow("default", a_spec(), engine.origin("tester"))

    for batch in range(3):
        for i in range(2):
            engine.start_run("default", "hello", {"b": batch, "i": i}, engine.origin("t"))
        await eventually(lambda: _at_least(dispatched(nc, subjects), 2 * (batch + 1)))  # noqa: B023
        await asyncio.sleep(0.5)  # both dispatchers record this batch's position

    assert not any(task.done() for task in running)
    stop.set()
    await asyncio.gather(*running)
    assert await dispatched(nc, subjects) == 6
    assert all(d.published == 6 for d in dispatchers)


async def test_the_dispatcher_publishes_each_queued_task(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    start_runs(engine, 5)

    await dispatch_until(engine, nc, subjects, 5)

    message = await nc.jetstream().get_last_msg(
        subjects.dispatch_stream, subjects.dispatch("default")
    )
    command = ExecuteTask.model_validate_json(message.data or b"")
    assert (command.task, command.attempt, command.spec.command) == ("a", 1, "echo a")
    assert await dispatched(nc, subjects) == 5


async def test_a_restarted_dispatcher_continues_from_its_tracked_position(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    start_runs(engine, 3)
    await dispatch_until(engine, nc, subjects, 3)
    start_runs(engine, 4)

    await dispatch_until(engine, nc, subjects, 7)

    assert await dispatched(nc, subjects) == 7


async def test_re_reading_the_log_after_a_crash_publishes_nothing_twice(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects, settings: object
) -> None:
    start_runs(engine, 6)
    await dispatch_until(engine, nc, subjects, 6)
    # A crash after publishing, before the position was committed: the position is lost.
    tracking = build_tracking(engine, DISPATCHER_TRACKING_TABLE)
    with tracking.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            f'UPDATE "{tracking.datastore.schema}".{DISPATCHER_TRACKING_TABLE} '  # noqa: S608
            "SET notification_id = 0 WHERE application_name = 'Ledgerflow'"
        )

    await dispatch_until(engine, nc, subjects, 6)

    assert await dispatched(nc, subjects) == 6


async def record_until_applied(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects, reports: list[TaskReported]
) -> ResultRecorder:
    js = nc.jetstream()
    for report in reports:
        # Distinct message ids, so JetStream's own de-duplication does not hide duplicates.
        await js.publish(
            subjects.results(0),
            report.model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"{report.message_id}:{uuid4()}"},
        )
    recorder = ResultRecorder(engine, js, subjects)
    stop = asyncio.Event()
    running = asyncio.create_task(recorder.run(stop))

    async def all_handled() -> bool:
        return sum(recorder.counts.values()) >= len(reports)

    await eventually(all_handled)
    stop.set()
    await running
    return recorder


def a_wire_report(run: object, task: str, outcome: str, delivery: int = 1) -> TaskReported:
    return TaskReported(
        tenant="default",
        run_id=run.id,  # type: ignore[attr-defined]
        task=task,
        attempt=1,
        delivery=delivery,
        worker="w1",
        outcome=outcome,
        at=datetime.now(UTC),
        exit_code=0,
    )


async def test_a_duplicated_result_message_appends_nothing(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    (run,) = start_runs(engine, 1)
    success = a_wire_report(run, "a", "succeeded")
    await record_until_applied(engine, nc, subjects, [success])
    head = engine.recorder.max_notification_id()

    recorder = await record_until_applied(engine, nc, subjects, [success, success])

    assert recorder.counts["fenced"] == 2
    assert engine.recorder.max_notification_id() == head


async def test_results_advance_the_run_to_success(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    (run,) = start_runs(engine, 1)
    first = [a_wire_report(run, "a", "started"), a_wire_report(run, "a", "succeeded")]
    await record_until_applied(engine, nc, subjects, first)

    await record_until_applied(
        engine,
        nc,
        subjects,
        [a_wire_report(run, "b", "succeeded"), a_wire_report(run, "c", "succeeded")],
    )

    assert engine.get_run("default", run.id).status is RunStatus.SUCCEEDED  # type: ignore[attr-defined]
    info = await nc.jetstream().stream_info(subjects.results_stream)
    assert info.state.messages == 0


async def test_malformed_and_unknown_results_are_dropped_without_blocking_others(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    (run,) = start_runs(engine, 1)
    await nc.jetstream().publish(subjects.results(0), b"{not json")
    await nc.jetstream().publish(subjects.results(0), b'{"schema_version": 99}')

    recorder = await record_until_applied(
        engine, nc, subjects, [a_wire_report(run, "a", "succeeded")]
    )

    assert recorder.counts["rejected"] == 2
    assert recorder.counts["applied"] == 1


async def test_late_and_out_of_order_results_change_nothing(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    engine.apply_workflow(
        "default",
        a_spec(
            name="retrying",
            tasks=[
                {
                    "name": "a",
                    "executor": "noop",
                    "retry": {"max_attempts": 2, "initial_seconds": 0},
                }
            ],
        ),
        engine.origin("tester"),
    )
    run, _ = engine.start_run("default", "retrying", {}, engine.origin("t"))
    first = [a_wire_report(run, "a", "started"), a_wire_report(run, "a", "failed")]
    await record_until_applied(engine, nc, subjects, first)
    head = engine.recorder.max_notification_id()

    recorder = await record_until_applied(
        engine,
        nc,
        subjects,
        [
            a_wire_report(run, "a", "succeeded"),  # late: attempt 1 already failed
            a_wire_report(run, "a", "started", delivery=2),  # a stale redelivery of attempt 1
        ],
    )

    assert recorder.counts["fenced"] == 2
    assert engine.recorder.max_notification_id() == head
    state = engine.get_run("default", run.id).tasks["a"]
    assert (state.status, state.attempt) == ("queued", 2)


async def test_a_malformed_result_is_parked_with_where_it_came_from(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    (run,) = start_runs(engine, 1)
    await nc.jetstream().publish(subjects.results(0), b"{broken")

    await record_until_applied(engine, nc, subjects, [a_wire_report(run, "a", "succeeded")])

    parked = await nc.jetstream().get_last_msg(
        subjects.parked_stream, subjects.parked(subjects.results_stream)
    )
    assert parked.data == b"{broken"
    assert parked.headers is not None
    assert parked.headers["Ledgerflow-Parked-Reason"] == "malformed result"
