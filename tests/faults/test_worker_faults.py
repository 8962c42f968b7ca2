"""Workers killed, paused and cut off from NATS: runs finish, each attempt has one outcome.

(The single-worker version of "kill -9 worker mid-task" is also in tests/e2e/test_faults.py.)
"""

import signal

import pytest

from engine.crash_points import CRASH_EXIT_STATUS
from tests.faults.client import RequestLog
from tests.faults.proxy import Link
from tests.faults.rig import FaultRig

pytestmark = pytest.mark.faults


def test_a_worker_killed_mid_task_loses_the_attempt_and_the_runs_finish(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    runs = [client.submit("fault-nap", {"nap": 4}) for _ in range(4)]
    accepted = [r for r in runs if r is not None]
    run_id, _ = rig.running_on("w1", accepted)

    rig.deployment.kill("w1")
    rig.fault("kill -9 worker mid-task")
    # Restarted at once, w1 would keep its name alive and its lost attempts would wait for
    # redelivery (ack_wait); left dead, it is declared lost and they are retried on w2.
    rig.settle([run_id])
    healed = rig.heal()

    rig.settle(accepted)
    rig.recovered("kill -9 worker mid-task", healed, client)
    rig.check("kill -9 worker mid-task", requests)


def test_a_worker_killed_after_reporting_before_acking_is_recorded_once(
    rig: FaultRig, requests: RequestLog
) -> None:
    # Only w1 serves, armed to die between storing its result and acking the dispatch.
    rig.deployment.kill("w2", signal.SIGTERM)
    rig.deployment.restart("w1", LEDGERFLOW_CRASH_POINTS="worker.after_result")
    client = rig.client(requests)

    run_id = client.submit("fault-chain", {})

    assert rig.wait_for_exit("w1") == CRASH_EXIT_STATUS
    rig.fault("kill -9 worker after result, before ack")
    healed = rig.heal()
    assert run_id is not None
    rig.settle([run_id])
    rig.recovered("kill -9 worker after result, before ack", healed, client)
    rig.check("kill -9 worker after result before ack", requests)


def test_a_paused_worker_loses_its_attempt_and_its_late_result_changes_nothing(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    runs = [client.submit("fault-nap", {"nap": 3}) for _ in range(4)]
    accepted = [r for r in runs if r is not None]
    run_id, task = rig.running_on("w1", accepted)

    rig.deployment.pause("w1")
    rig.fault("SIGSTOP worker past its deadline")
    # Silent past the liveness deadline: its attempt ends, a retry runs on w2.
    rig.settle([run_id])
    healed = rig.heal()  # SIGCONT: w1 reports the attempt it had finished meanwhile

    rig.engines_log(f"fenced succeeded result of {run_id}/{task} attempt 1")
    rig.settle(accepted)
    rig.recovered("SIGSTOP worker past its deadline", healed, client)
    rig.check("SIGSTOP worker past deadline", requests)


def test_a_worker_cut_off_from_nats_is_replaced_and_its_results_are_fenced(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    runs = [client.submit("fault-nap", {"nap": 3}) for _ in range(4)]
    accepted = [r for r in runs if r is not None]
    run_id, _ = rig.running_on("w1", accepted)

    rig.proxies["w1-nats"].set(Link.blackhole())
    rig.fault("worker <-> NATS partition")
    rig.settle([run_id])  # redelivered to (or retried on) w2 meanwhile
    healed = rig.heal()

    rig.settle(accepted)
    rig.recovered("worker <-> NATS partition", healed, client)
    rig.check("worker <-> NATS partition", requests)
