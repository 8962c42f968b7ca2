"""Faults of the servers and between the components: nats-server and PostgreSQL restarted,
PostgreSQL cut off from the API, latency and jitter on every link."""

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from aggregates.run import Run
from tests.e2e.rig import HANG
from tests.faults.checker import read_log
from tests.faults.client import RequestLog, WorkloadClient
from tests.faults.proxy import Link
from tests.faults.rig import FaultRig
from tests.faults.workload import workload

pytestmark = pytest.mark.faults

API_BUDGET_SECONDS = 20.0
"""A request must be answered within this, outage or not: twice the API's statement timeout."""


def submit_all(client: WorkloadClient, seed: int, size: int) -> list[str]:
    runs = [client.submit(s.workflow, s.inputs) for s in workload(seed=seed, size=size)]
    return [r for r in runs if r is not None]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_nats_server_restarted_under_load_loses_no_run_and_the_api_keeps_accepting(
    rig: FaultRig, requests: RequestLog, signum: int
) -> None:
    client = rig.client(requests)
    before = submit_all(client, seed=signum, size=6)

    rig.stop_nats(signum)
    rig.fault(f"nats-server {signal.Signals(signum).name}")
    during = submit_all(client, seed=signum + 100, size=3)
    time.sleep(2)
    healed = rig.heal()

    assert len(during) == 3, f"the API refused runs while NATS was down: {requests.requests}"
    rig.settle(before + during)
    rig.recovered(f"nats-server {signal.Signals(signum).name}", healed, client)
    rig.check(f"restart nats-server ({signal.Signals(signum).name})", requests)


def test_postgres_cut_off_from_the_api_gives_503s_in_time_and_half_writes_nothing(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests, timeout=API_BUDGET_SECONDS)
    marker = uuid.uuid4().hex
    keys = [f"{marker}-{n}" for n in range(3)]

    rig.proxies["api-pg"].set(Link.blackhole())
    rig.fault("API <-> PostgreSQL blackhole")
    with ThreadPoolExecutor(len(keys)) as pool:
        list(pool.map(lambda k: client.submit("fault-chain", {"marker": marker}, k), keys))
    healed = rig.heal()
    again = [client.submit_until_accepted("fault-chain", {"marker": marker}, HANG, k) for k in keys]
    accepted = [run_id for run_id in again if run_id is not None]

    outage = requests.requests[: len(keys)]
    assert all(r.seconds < API_BUDGET_SECONDS for r in outage), outage
    assert all(r.status == 503 and r.retry_after for r in outage), outage
    assert sorted(started_with(rig, marker)) == sorted(accepted)
    rig.settle(accepted)
    rig.recovered("API <-> PostgreSQL blackhole", healed, client)
    rig.check("API <-> PostgreSQL blackhole", requests)


def test_postgres_restarted_immediately_answers_503s_and_keeps_every_acknowledged_run(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests, timeout=API_BUDGET_SECONDS)
    before = submit_all(client, seed=11, size=4)
    marker = uuid.uuid4().hex
    keys = [f"{marker}-{n}" for n in range(2)]

    rig.stop_postgres()
    rig.fault("PostgreSQL immediate restart")
    for key in keys:
        client.submit("fault-chain", {"marker": marker}, key)
    outage = requests.requests[-len(keys) :]
    healed = rig.heal()
    again = [client.submit_until_accepted("fault-chain", {"marker": marker}, HANG, k) for k in keys]
    accepted = [run_id for run_id in again if run_id is not None]

    assert all(r.seconds < API_BUDGET_SECONDS for r in outage), outage
    assert all(r.status == 503 and r.retry_after for r in outage), outage
    assert len(set(accepted)) == len(keys)
    assert sorted(started_with(rig, marker)) == sorted(accepted)
    rig.settle(before + accepted)
    rig.recovered("PostgreSQL immediate restart", healed, client)
    rig.check("restart PostgreSQL (immediate)", requests)


def started_with(rig: FaultRig, marker: str) -> list[str]:
    """The runs in the log whose inputs carry `marker`."""
    return [
        run_id
        for run_id, events in read_log(rig.settings).runs.items()
        if isinstance(events[0], Run.Started) and events[0].inputs.get("marker") == marker
    ]


def test_latency_and_jitter_on_every_link_break_no_promise(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    for proxy in rig.proxies.values():
        proxy.set(Link(delay=0.005, jitter=0.03))
    rig.fault("latency + jitter on every link")

    runs = submit_all(client, seed=7, size=6)
    rig.settle(runs)
    healed = rig.heal()

    rig.recovered("latency + jitter on every link", healed, client)
    rig.check("latency + jitter on every link", requests)
