"""Engines killed inside the dispatcher's and the result recorder's narrow windows.

Each engine replica is armed with a crash point (engine/crash_points.py), one on either side of
the window, so both sides are hit in one scenario. (A plain kill -9 of the engine mid-batch is
tests/e2e/test_projection_crash.py.)
"""

import pytest

from engine.crash_points import CRASH_EXIT_STATUS
from tests.faults.client import RequestLog
from tests.faults.rig import ENGINES, FaultRig

pytestmark = pytest.mark.faults


def test_engines_killed_before_and_after_publishing_dispatches_lose_nothing(
    rig: FaultRig, requests: RequestLog
) -> None:
    before, after = ENGINES
    rig.deployment.restart(before, LEDGERFLOW_CRASH_POINTS="dispatcher.before_publish")
    rig.deployment.restart(after, LEDGERFLOW_CRASH_POINTS="dispatcher.after_publish")
    rig.deployment.wait_ready()
    client = rig.client(requests)

    runs = [client.submit("fault-chain", {"n": n}) for n in range(3)]

    assert {rig.wait_for_exit(engine) for engine in ENGINES} == {CRASH_EXIT_STATUS}
    rig.fault("kill -9 dispatcher before/after publish")
    healed = rig.heal()
    rig.settle([r for r in runs if r is not None])
    rig.recovered("kill -9 dispatcher before/after publish", healed, client)
    rig.check("kill -9 dispatcher around publish", requests)


def test_engines_killed_before_and_after_committing_results_record_each_once(
    rig: FaultRig, requests: RequestLog
) -> None:
    before, after = ENGINES
    rig.deployment.restart(before, LEDGERFLOW_CRASH_POINTS="recorder.before_commit")
    rig.deployment.restart(after, LEDGERFLOW_CRASH_POINTS="recorder.after_commit")
    rig.deployment.wait_ready()
    client = rig.client(requests)

    runs = [client.submit("fault-chain", {"n": n}) for n in range(3)]

    assert {rig.wait_for_exit(engine) for engine in ENGINES} == {CRASH_EXIT_STATUS}
    rig.fault("kill -9 recorder before/after commit")
    healed = rig.heal()
    # The unacked results come back after the consumer's ack_wait; the committed ones fenced.
    rig.engines_log("fenced ")
    rig.settle([r for r in runs if r is not None])
    rig.recovered("kill -9 recorder before/after commit", healed, client)
    rig.check("kill -9 recorder around commit", requests)
