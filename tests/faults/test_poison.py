"""A poison dispatch: one no worker can run is handed back at every delivery until it runs out
of deliveries, then parked and its attempt failed as undeliverable; other work flows."""

import pytest

from aggregates.run import Run
from streams.subjects import Subjects
from streams.topology import MAX_DELIVER
from tests.faults.checker import read_log
from tests.faults.client import RequestLog
from tests.faults.jetstream import parked
from tests.faults.rig import FaultRig

pytestmark = pytest.mark.faults


def test_a_poison_dispatch_is_parked_after_its_deliveries_and_other_work_flows(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    subjects = Subjects(rig.settings.nats_prefix)
    parked_before = parked(rig.nats.url, subjects, 0)
    after = max((copy.sequence for copy in parked_before), default=0)

    poison = client.submit("fault-poison", {})
    others = [client.submit("fault-chain", {"n": n}) for n in range(3)]
    rig.fault("poison dispatch (no worker runs it)")
    assert poison is not None
    assert None not in others
    rig.settle([poison, *(r for r in others if r is not None)])

    assert rig.deployment.run(poison)["status"] == "failed"
    assert all(rig.deployment.run(r)["status"] == "succeeded" for r in others if r is not None)
    failures = [e for e in read_log(rig.settings).runs[poison] if isinstance(e, Run.TaskFailed)]
    assert [(e.attempt, e.cause) for e in failures] == [(1, "undeliverable")]
    copies = [
        copy
        for copy in parked(rig.nats.url, subjects, after)
        if copy.stream == subjects.dispatch_stream and poison.encode() in copy.data
    ]
    assert [copy.deliveries for copy in copies] == [MAX_DELIVER], copies
    rig.recovered("poison dispatch (no worker runs it)", rig.heal(), client)
    findings = rig.check("poison dispatch", requests)
    assert findings.parked >= len(copies)
