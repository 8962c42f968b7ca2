"""Both schedulers down across several cron ticks (engines paused or killed), then back: each
tick due meanwhile is decided once, by its schedule's misfire policy, never twice."""

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from aggregates.schedule import MISFIRE_GRACE, ScheduleSpec
from tests.e2e.rig import wait_for
from tests.faults.checker import read_log
from tests.faults.client import RequestLog
from tests.faults.cron_rules import CronLog
from tests.faults.rig import ENGINES, FaultRig
from tests.faults.workload import CRON

pytestmark = pytest.mark.faults

DOWN_SECONDS = 7.0
"""Three or four ticks of the rig's `*/2` schedules."""


@pytest.mark.parametrize("stop", ["pause", "kill"])
def test_schedulers_down_across_ticks_decide_each_tick_once_by_its_misfire_policy(
    rig: FaultRig, requests: RequestLog, stop: str
) -> None:
    down_from = datetime.now(UTC)
    for engine in ENGINES:
        if stop == "pause":
            rig.deployment.pause(engine)
        else:
            rig.deployment.kill(engine, signal.SIGKILL)
    kind = f"schedulers down across ticks ({stop})"
    rig.fault(kind)
    time.sleep(DOWN_SECONDS)
    down_until = datetime.now(UTC)
    healed = rig.heal()

    # Ticks due well inside the downtime, none decided on time (a grace from either end: the
    # tick a scheduler was about to fire when it stopped is decided on its own, at resumption).
    missed = {
        workflow: ScheduleSpec.model_validate(schedule).ticks_between(
            down_from + MISFIRE_GRACE, down_until - MISFIRE_GRACE, 100
        )
        for workflow, schedule in CRON.items()
    }
    wait_for(
        lambda: _decided_after(read_log(rig.settings).cron, down_until),
        f"the ticks after {down_until} were never decided",
    )
    cron = read_log(rig.settings).cron
    for workflow, ticks in missed.items():
        assert len(ticks) >= 2, f"{workflow}: only {ticks} due while down"
        fired = [t for t in ticks if cron.fires[(workflow, t)]]
        assert all(cron.decided[workflow][t] == 1 for t in ticks), cron.decided[workflow]
        if CRON[workflow]["misfire"] == "catch_up":
            assert fired == ticks, f"{workflow}: catch_up fired {fired} of {ticks}"
        else:  # fire_once: the latest missed tick at most (a later one may be the latest)
            assert fired in ([], ticks[-1:]), f"{workflow}: fire_once fired {fired} of {ticks}"
    rig.recovered(kind, healed, rig.client(requests))
    rig.check(kind, requests)


def _decided_after(cron: CronLog, instant: datetime) -> bool:
    """Whether every schedule has decided a tick after `instant` (so all before it, too)."""
    after = instant + timedelta(seconds=1)
    return all(any(tick > after for tick in cron.decided[workflow]) for workflow in CRON)
