"""The tracked log follower against real PostgreSQL: positions recorded by another replica."""

import asyncio

import pytest
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.utils import get_topic

from aggregates.run import Run
from engine.application import Ledgerflow
from ops.system import DISPATCHER_TRACKING_TABLE, build_tracking
from projections.follower import AdvisoryLock
from streams.log_follower import TrackedLogFollower
from tests.builders import a_spec

pytestmark = pytest.mark.integration

HANG = 30.0


def start_run(engine: Ledgerflow, i: int) -> None:
    engine.apply_workflow("default", a_spec(), engine.origin("tester"))
    engine.start_run("default", "hello", {"i": i}, engine.origin("t"))


async def test_a_follower_whose_position_another_replica_recorded_keeps_following(
    engine: Ledgerflow,
) -> None:
    # A replica that lost its lock unawares handles a batch the new lock holder has already
    # handled and recorded: "already recorded" counts as done, and it follows on.
    tracking = build_tracking(engine, DISPATCHER_TRACKING_TABLE)
    handled: asyncio.Queue[list[int]] = asyncio.Queue()
    recorded_by_another = False

    async def handle(positions: list[int]) -> None:
        nonlocal recorded_by_another
        if not recorded_by_another:
            head = await asyncio.to_thread(engine.recorder.max_notification_id)
            await asyncio.to_thread(tracking.insert_tracking, Tracking(engine.name, head or 0))
            recorded_by_another = True
        handled.put_nowait(positions)

    def position(notification: Notification) -> int:
        return notification.id

    follower = TrackedLogFollower(
        engine,
        tracking,
        name="test-follower",
        topics=[get_topic(Run.TaskQueued)],
        convert=position,
        handle=handle,
        batch_size=64,
        lock=AdvisoryLock(tracking.datastore, "test-follower"),
    )
    stop = asyncio.Event()
    following = asyncio.create_task(follower.run(stop))
    await asyncio.to_thread(start_run, engine, 1)
    first = await asyncio.wait_for(handled.get(), HANG)

    await asyncio.to_thread(start_run, engine, 2)
    second = await asyncio.wait_for(handled.get(), HANG)

    assert not following.done()
    stop.set()
    await following
    assert second[0] > first[-1]
