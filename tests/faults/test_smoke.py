"""The rig itself: with no fault at all, a workload finishes and every promise holds."""

import pytest

from tests.faults.client import RequestLog
from tests.faults.rig import FaultRig
from tests.faults.workload import workload

pytestmark = pytest.mark.faults


def test_without_faults_every_run_finishes_and_the_checker_finds_nothing(
    rig: FaultRig, requests: RequestLog
) -> None:
    client = rig.client(requests)
    runs = [client.submit(s.workflow, s.inputs) for s in workload(seed=1, size=12)]

    rig.settle([r for r in runs if r is not None])

    assert None not in runs
    rig.check("no faults", requests)
