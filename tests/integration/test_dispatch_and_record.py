"""The dispatcher and the result recorder against real PostgreSQL and nats-server."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from nats.aio.client import Client as NatsClient

from aggregates.run import RunStatus
from engine.application import Ledgerflow
from ops.system import DISPATCHER_TRACKING_TABLE, build_tracking
from projections.follower import AdvisoryLock
from streams.dispatcher import DISPATCHER_NAME, Dispatcher
from streams.messages import ExecuteTask, TaskReported
from streams.recorder import ResultRecorder
from streams.subjects import Subjects
from tests.builders import a_spec

pytestmark = pytest.mark.integration

HANG = 30.0
STANDBY_POLL = 0.1


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


def a_replica_dispatcher(engine: Ledgerflow, nc: NatsClient, subjects: Subjects) -> Dispatcher:
    """A dispatcher as another engine replica runs it (same schema and streams)."""
    return Dispatcher(
        engine,
        build_tracking(engine, DISPATCHER_TRACKING_TABLE),
        nc.jetstream(),
        subjects,
        standby_poll_seconds=STANDBY_POLL,
    )


async def queue_and_dispatch(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects, runs: int, *dispatchers: Dispatcher
) -> None:
    """Start `runs` one-task runs and wait until they are in the stream and tracked."""
    before = await dispatched(nc, subjects)
    await asyncio.to_thread(start_runs, engine, runs)
    await eventually(lambda: _at_least(dispatched(nc, subjects), before + runs))
    active = [d for d in dispatchers if d.active]
    assert len(active) == 1
    await eventually(lambda: _position_reached(engine, active[0]))


async def test_of_two_dispatchers_on_one_log_one_publishes_and_the_other_stands_by(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    # Every engine replica runs a dispatcher: both keep running (the fault rig once saw one
    # die of a position the other had recorded), and only the lock holder publishes.
    dispatchers = [a_replica_dispatcher(engine, nc, subjects) for _ in range(2)]
    stop = asyncio.Event()
    running = [asyncio.create_task(d.run(stop)) for d in dispatchers]
    await eventually(lambda: _any_active(dispatchers))

    for _ in range(3):
        await queue_and_dispatch(engine, nc, subjects, 2, *dispatchers)
        await asyncio.sleep(STANDBY_POLL * 3)  # the standby had its chances to take the lock

    assert not any(task.done() for task in running)
    stop.set()
    await asyncio.gather(*running)
    assert await dispatched(nc, subjects) == 6
    assert sorted(d.published for d in dispatchers) == [0, 6]


async def test_a_standby_dispatcher_takes_over_when_the_active_one_stops(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    first = a_replica_dispatcher(engine, nc, subjects)
    stop_first = asyncio.Event()
    running_first = asyncio.create_task(first.run(stop_first))
    await eventually(lambda: _any_active([first]))
    second = a_replica_dispatcher(engine, nc, subjects)
    stop_second = asyncio.Event()
    running_second = asyncio.create_task(second.run(stop_second))
    await queue_and_dispatch(engine, nc, subjects, 2, first, second)

    stop_first.set()
    await running_first
    await eventually(lambda: _any_active([second]))
    await queue_and_dispatch(engine, nc, subjects, 3, second)

    stop_second.set()
    await running_second
    assert (first.published, second.published) == (2, 3)
    assert await dispatched(nc, subjects) == 5


async def test_a_dispatcher_whose_lock_session_ends_stands_by_and_the_other_takes_over(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    first = a_replica_dispatcher(engine, nc, subjects)
    second = a_replica_dispatcher(engine, nc, subjects)
    stop = asyncio.Event()
    running = [asyncio.create_task(first.run(stop))]
    await eventually(lambda: _any_active([first]))
    running.append(asyncio.create_task(second.run(stop)))
    await queue_and_dispatch(engine, nc, subjects, 2, first, second)

    # The active replica's connection goes (its host lost the network, say): so does its lock.
    await asyncio.to_thread(terminate_lock_holder, engine, DISPATCHER_NAME)
    await eventually(lambda: _only_active(second, first))
    await queue_and_dispatch(engine, nc, subjects, 3, first, second)

    assert not any(task.done() for task in running)
    stop.set()
    await asyncio.gather(*running)
    assert (first.published, second.published) == (2, 3)
    assert await dispatched(nc, subjects) == 5


def terminate_lock_holder(engine: Ledgerflow, name: str) -> None:
    """End the PostgreSQL session holding `name`'s advisory lock, as a network cut would."""
    datastore = build_tracking(engine, DISPATCHER_TRACKING_TABLE).datastore
    key = AdvisoryLock(datastore, name).key & 0xFFFF_FFFF_FFFF_FFFF
    with datastore.get_connection() as connection:
        # pg_locks shows a bigint advisory key as its high and low halves.
        row = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND classid = %s::bigint::oid "
            "AND objid = %s::bigint::oid AND objsubid = 1",
            (key >> 32, key & 0xFFFF_FFFF),
        ).fetchone()
    assert row is not None
    assert row["ended"] == 1


async def _any_active(dispatchers: list[Dispatcher]) -> bool:
    return any(d.active for d in dispatchers)


async def _only_active(dispatcher: Dispatcher, other: Dispatcher) -> bool:
    return dispatcher.active and not other.active


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


async def test_a_result_from_a_newer_worker_with_a_field_unknown_here_is_recorded(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    (run,) = start_runs(engine, 1)
    newer = json.loads(a_wire_report(run, "a", "succeeded").model_dump_json())
    newer["cpu_seconds"] = 0.25  # added by a later worker version, same schema version
    await nc.jetstream().publish(
        subjects.results(0), json.dumps(newer).encode(), headers={"Nats-Msg-Id": "newer"}
    )

    recorder = ResultRecorder(engine, nc.jetstream(), subjects)
    stop = asyncio.Event()
    running = asyncio.create_task(recorder.run(stop))

    async def handled() -> bool:
        return sum(recorder.counts.values()) >= 1

    await eventually(handled)
    stop.set()
    await running

    assert recorder.counts["applied"] == 1
    assert engine.get_run("default", run.id).tasks["a"].status == "succeeded"  # type: ignore[attr-defined]


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
