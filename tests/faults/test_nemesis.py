"""The nemesis: random faults under load and bad input, then quiet, then the checker."""

import pytest

from aggregates.run import Run
from tests.faults.bad_input import rejected_badly
from tests.faults.checker import read_log
from tests.faults.client import RequestLog
from tests.faults.nemesis import Nemesis, Profile
from tests.faults.rig import FaultRig

pytestmark = pytest.mark.faults

QUIET_BOUND_SECONDS = 180.0
"""After the last fault, every accepted run ends within this (a hang detector): a lost
attempt may wait out the dispatch's ack_wait and a deadline before it is retried..."""
QUIET_SECONDS_PER_RUN = 0.5
"""...plus this per run accepted, for the backlog a long soak leaves behind."""


def test_a_seeded_nemesis_breaks_no_promise(rig: FaultRig, requests: RequestLog) -> None:
    nemesis = Nemesis(rig, Profile.from_env(), requests)

    nemesis.run()

    probes = [probe.run_id for probe in nemesis.probes]
    runs = requests.accepted + probes
    within = QUIET_BOUND_SECONDS + QUIET_SECONDS_PER_RUN * len(runs)
    rig.settle(runs, within=within, supervise=True)
    log = read_log(rig.settings).runs
    for probe in nemesis.probes:
        ended = next(e for e in log[probe.run_id] if isinstance(e, Run.Succeeded | Run.Failed))
        at = ended.timestamp.timestamp()
        overlapped = probe.next_fault_at is not None and at > probe.next_fault_at
        kind = "nemesis: overlapping faults" if overlapped else f"nemesis: {probe.kind}"
        rig.summary.recovered(kind, at - probe.healed_at)
    assert rejected_badly(nemesis.bad_requests) == []
    requests.requests += nemesis.bad_requests.requests
    rig.check(f"nemesis (seed {nemesis.profile.seed})", requests)
