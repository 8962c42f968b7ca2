"""A backlog: both workers stopped while concurrent clients submit many runs, then started
again. The API keeps answering meanwhile, NATS holds every dispatch (no silent drop), the
backlog drains, nothing is lost.

CI queues `BACKLOG` runs (LEDGERFLOW_FAULTS_BACKLOG, 2,000 by default); `make soak` 50,000.
"""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from streams.subjects import Subjects
from tests.e2e.rig import HANG, wait_for
from tests.faults.client import RequestLog
from tests.faults.jetstream import message_count
from tests.faults.rig import WORKERS, FaultRig

pytestmark = pytest.mark.faults

BACKLOG = int(os.environ.get("LEDGERFLOW_FAULTS_BACKLOG", "2000"))
CLIENTS = 8
"""Concurrent submitters: more than the API's pool, so it is kept busy, not flooded."""
API_BUDGET_SECONDS = 20.0
"""Each request is answered within this, backlog or not (a hang detector)."""
SECONDS_PER_RUN = 0.05
"""Slack per queued run on top of `HANG` for building and for draining the backlog."""
WORKFLOW = "fault-backlog"


def test_a_backlog_built_with_the_workers_stopped_drains_and_the_api_stays_responsive(
    rig: FaultRig, requests: RequestLog
) -> None:
    subjects = Subjects(rig.settings.nats_prefix)
    bound = HANG + SECONDS_PER_RUN * BACKLOG
    finished_before = finished(rig)
    for worker in WORKERS:
        rig.deployment.kill(worker, signal.SIGTERM)
    rig.fault("backlog: workers stopped")
    client = rig.client(requests, timeout=API_BUDGET_SECONDS)

    with ThreadPoolExecutor(CLIENTS) as pool:
        runs = list(
            pool.map(
                lambda n: client.submit_until_accepted(WORKFLOW, {"n": n}, within=bound),
                range(BACKLOG),
            )
        )
    assert None not in runs, f"{runs.count(None)} submissions never accepted"
    unanswered = [r for r in requests.requests if r.status is None]
    assert not unanswered, f"{len(unanswered)} requests unanswered, e.g. {unanswered[:3]}"
    # Every dispatch is held by NATS while no worker consumes (discard-new: none dropped).
    wait_for(
        lambda: message_count(rig.nats.url, subjects.dispatch_stream) >= BACKLOG,
        f"the dispatch stream never held the {BACKLOG} queued dispatches",
        within=bound,
    )
    healed = rig.heal()

    wait_for(
        lambda: finished(rig) - finished_before >= BACKLOG,
        f"the backlog of {BACKLOG} runs did not drain",
        within=bound,
    )
    rig.summary.recovered("backlog: workers stopped", time.monotonic() - healed)
    rig.check(f"backlog of {BACKLOG} (workers stopped)", requests)


def finished(rig: FaultRig) -> int:
    """Runs of the backlog's workflow that ended, by the statistics read model (it may lag:
    the checker reads the log itself afterwards)."""
    response = rig.deployment.http.get(
        f"/v1/workflows/{WORKFLOW}/statistics", params={"granularity": "day", "limit": 100}
    )
    response.raise_for_status()
    return sum(int(bucket["finished"]) for bucket in response.json()["items"])
