"""NATS loses recent data: nats-server killed, the newest block file of a stream cut in half (as
a power loss does to writes not yet synced), started again. PostgreSQL is the only truth: lost
dispatches are re-sent from the log (the reconciler); an attempt whose outcome was lost ends
anyway: by its deadline, or by a redelivery of its dispatch (whose ack the cut may have taken
too), whichever comes first."""

import signal

import pytest

from streams.subjects import Subjects
from tests.e2e.rig import HANG, wait_for
from tests.faults.checker import OUTCOMES, read_log
from tests.faults.client import RequestLog
from tests.faults.jetstream import message_count, stored
from tests.faults.rig import ENGINES, RECONCILE_AFTER_SECONDS, WORKERS, FaultRig

pytestmark = pytest.mark.faults

RUNS = 4
"""Runs per half of the scenario: enough to fill the tail of a block, few to wait for."""


def test_nats_losing_its_newest_dispatches_and_results_loses_no_run(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    subjects = Subjects(rig.settings.nats_prefix)

    # Dispatches: the workers stopped while runs are queued, so the dispatches wait in NATS.
    # (First: the reconciler's bound, the longest wait, runs out while the rest goes on.)
    for worker in WORKERS:
        rig.deployment.kill(worker, signal.SIGTERM)
    queued = accepted([client.submit("fault-chain", {"n": n}) for n in range(RUNS)])
    wait_for(
        lambda: message_count(rig.nats.url, subjects.dispatch_stream) >= RUNS,
        "the dispatches of the queued runs never reached the dispatch stream",
    )
    lost_dispatches = lose_the_newest(rig, subjects.dispatch_stream)
    rig.fault("NATS lost recent data (dispatches)")
    healed = rig.heal()

    # Results: the engines stopped while the workers finish, so the outcomes wait in NATS.
    finishing = accepted([client.submit("fault-nap", {"nap": 2}) for _ in range(RUNS)])
    wait_for(
        lambda: all(rig.deployment.run(r)["status"] == "running" for r in finishing),
        f"runs {finishing} never all running",
    )
    for engine in ENGINES:
        rig.deployment.pause(engine)
    wait_for(
        lambda: message_count(rig.nats.url, subjects.results_stream) >= RUNS,
        "the workers' outcomes never reached the results stream",
    )
    lost_results = lose_the_newest(rig, subjects.results_stream)
    rig.fault("NATS lost recent data (results)")
    rig.heal()

    # Nothing lost in NATS, nothing tested: the cut must have taken messages of both kinds.
    assert lost_dispatches, "the cut took no dispatch"
    assert lost_results, "the cut took no result"
    rig.settle([*queued, *finishing], within=HANG + 2 * RECONCILE_AFTER_SECONDS)
    for message_id in lost_dispatches:
        rig.engines_log(f"re-published dispatch {message_id}")
    log = read_log(rig.settings).runs
    for message_id in lost_results:
        run_id, task, attempt, _, _ = message_id.split(":")
        assert run_id not in log or any(
            isinstance(e, OUTCOMES) and (e.task, e.attempt) == (task, int(attempt))
            for e in log[run_id]
        ), f"the result {message_id} was lost and its attempt never ended"
    rig.recovered("NATS lost recent data", healed, client)
    rig.check("NATS lost recent data (truncated block)", requests)


def lose_the_newest(rig: FaultRig, stream: str) -> set[str]:
    """Kill nats-server, cut the newest block of `stream` in half, start it again: the ids
    of the messages lost."""
    before = {m.message_id for m in stored(rig.nats.url, [stream])}
    rig.stop_nats(signal.SIGKILL)
    rig.truncate_newest_block(stream)
    rig.nats.start()
    after = {m.message_id for m in stored(rig.nats.url, [stream])}
    return {message_id for message_id in before - after if message_id is not None}


def accepted(runs: list[str | None]) -> list[str]:
    assert None not in runs, runs
    return [run for run in runs if run is not None]
