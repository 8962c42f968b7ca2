"""Two `ledgerflow engine` processes on one database fire every tick of a schedule once."""

import time
from collections import Counter
from datetime import datetime
from itertools import pairwise

import pytest

from aggregates.run import Run
from aggregates.schedule_tick import ScheduleTick
from ops.system import build_engine
from tests.e2e.rig import Deployment

pytestmark = pytest.mark.e2e

SECONDS = 8


def fired_and_started(
    deployment: Deployment,
) -> tuple[Counter[datetime], Counter[datetime | None]]:
    """Per scheduled instant: `ScheduleFired` events, and runs started for it, in the store."""
    engine = build_engine(deployment.settings)
    try:
        head = engine.recorder.max_notification_id() or 0
        events = [
            engine.mapper.to_domain_event(n)
            for n in engine.recorder.select_notifications(start=1, limit=head)
        ]
    finally:
        engine.close()
    fired = Counter(e.scheduled_for for e in events if isinstance(e, ScheduleTick.ScheduleFired))
    started: Counter[datetime | None] = Counter(
        e.scheduled_for for e in events if isinstance(e, Run.Started) and e.trigger == "schedule"
    )
    return fired, started


def test_two_engine_processes_fire_each_every_second_tick_exactly_once(
    deployment: Deployment,
) -> None:
    deployment.start("w1")
    deployment.spawn("engine2", "engine")
    schedule = {"cron": "* * * * * *", "misfire": "catch_up", "overlap": "allow"}
    deployment.apply("beat", [{"name": "a", "executor": "noop"}], schedule=schedule)

    time.sleep(SECONDS)
    deployment.http.post("/v1/workflows/beat/schedule/pause").raise_for_status()
    time.sleep(2)  # a tick decided just before the pause is committed by now
    fired, started = fired_and_started(deployment)

    ticks = sorted(fired)
    assert len(ticks) >= SECONDS // 2
    assert set(fired.values()) == {1}
    assert started == fired
    assert {(b - a).total_seconds() for a, b in pairwise(ticks)} == {1.0}
    assert deployment.processes["engine2"].poll() is None
