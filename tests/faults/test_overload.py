"""A burst of submissions beyond the API's connection pool: fast 503s, no deadlock, no loss."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.client import RequestLog
from tests.faults.rig import FaultRig

pytestmark = pytest.mark.faults

BURST = 60
"""Concurrent submissions: five times the API's pool (6 connections, 6 overflow)."""
API_BUDGET_SECONDS = 20.0


def test_a_burst_beyond_the_pool_is_answered_in_time_and_every_accepted_run_finishes(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests, timeout=API_BUDGET_SECONDS)

    with ThreadPoolExecutor(BURST) as pool:
        runs = list(pool.map(lambda n: client.submit("fault-noop", {"burst": n}), range(BURST)))
    rig.fault("connection exhaustion (burst)")

    assert all(r.status is not None and r.seconds < API_BUDGET_SECONDS for r in requests.requests)
    accepted = [r for r in runs if r is not None]
    assert accepted, "the burst got no run accepted at all"
    rig.settle(accepted)
    rig.check("connection exhaustion (burst)", requests)
