"""A request the store does not answer in time gets a 503 with `Retry-After`, never a hang;
what the abandoned handler records later is whole, and a retry with its key finds it."""

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOFactory

from engine.application import Ledgerflow
from tests.unit.test_http_builders import (
    PROBLEM_JSON,
    PositionedPOPORecorder,
    a_client,
    a_registered_workflow,
)

DEADLINE = 0.5
RELEASED = threading.Event()
"""Set by a test to let the stalled store answer (a server that comes back)."""


class _StallingRecorder(PositionedPOPORecorder):
    """Inserts wait until the test releases them, as on a server that stopped answering."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if stored_events and "Run.Started" in stored_events[0].topic:
            assert RELEASED.wait(timeout=30), "the test never released the store"
        return super().insert_events(stored_events, **kwargs)


class StallingStoreFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return _StallingRecorder()


def test_a_write_the_store_does_not_answer_gets_a_503_at_the_deadline() -> None:
    RELEASED.clear()
    engine = Ledgerflow(env={"PERSISTENCE_MODULE": f"{__name__}:{StallingStoreFactory.__name__}"})
    with a_client(engine, deadline_seconds=DEADLINE) as client:
        a_registered_workflow(client)
        key = {"Idempotency-Key": "stalled-1", "X-Request-Id": "req-stalled"}

        stalled = client.post("/v1/workflows/etl/runs", json={}, headers=key)
        RELEASED.set()  # the store answers again; the abandoned handler records the run
        retried = client.post("/v1/workflows/etl/runs", json={}, headers=key)
        again = client.post("/v1/workflows/etl/runs", json={}, headers=key)

    assert stalled.status_code == 503
    assert stalled.headers["content-type"] == PROBLEM_JSON
    assert stalled.headers["retry-after"] == "1"
    assert stalled.headers["x-request-id"] == "req-stalled"
    assert stalled.json()["status"] == 503
    assert retried.status_code in {200, 202}, retried.text
    assert again.json()["id"] == retried.json()["id"]


def test_requests_answered_in_time_are_untouched() -> None:
    with a_client(deadline_seconds=DEADLINE) as client:
        a_registered_workflow(client)

        response = client.post("/v1/workflows/etl/runs", json={})

    assert response.status_code == 202
