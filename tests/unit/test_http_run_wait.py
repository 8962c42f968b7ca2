"""Long polling: `GET /v1/runs/{id}?wait=S` answers as soon as the run ends, or after S."""

import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from aggregates.provenance import Origin
from engine.application import Ledgerflow
from tests.unit.test_http_builders import (
    a_client,
    a_registered_workflow,
    a_started_run,
    an_engine,
    locs,
    problem,
)

GENEROUS_SECONDS = 8.0  # a hang detector below the 10 s wait, not a performance figure


def cancel_later(engine: Ledgerflow, run_id: str, delay: float) -> threading.Timer:
    origin = Origin(actor="test", correlation_id="c", at=datetime.now(UTC))
    timer = threading.Timer(
        delay, engine.cancel_run, args=("default", UUID(run_id), "enough", origin)
    )
    timer.start()
    return timer


def test_a_wait_answers_when_the_run_ends_not_when_the_wait_is_over() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client)
        run = a_started_run(client)
        timer = cancel_later(engine, run["id"], 0.3)

        started = time.monotonic()
        waited = client.get(f"/v1/runs/{run['id']}", params={"wait": 10})
        took = time.monotonic() - started
        timer.join()

    assert waited.status_code == 200
    assert waited.json()["status"] == "cancelled"
    assert took < GENEROUS_SECONDS


def test_a_wait_on_an_ended_run_answers_at_once_with_it() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client)
        run = a_started_run(client)
        client.post(f"/v1/runs/{run['id']}/cancel", json={"reason": "stop"})

        started = time.monotonic()
        waited = client.get(f"/v1/runs/{run['id']}", params={"wait": 10}).json()

        assert time.monotonic() - started < GENEROUS_SECONDS
    assert waited["status"] == "cancelled"


def test_a_wait_that_runs_out_answers_with_the_run_as_it_is() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client)
        run = a_started_run(client)

        waited = client.get(f"/v1/runs/{run['id']}", params={"wait": 0.2})

    assert waited.status_code == 200
    assert waited.json()["status"] == "queued"


def test_many_waits_on_one_run_all_answer_when_it_ends() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client)
        run = a_started_run(client)
        answers: list[str] = []

        def wait() -> None:
            body = client.get(f"/v1/runs/{run['id']}", params={"wait": 10}).json()
            answers.append(body["status"])

        waiters = [threading.Thread(target=wait) for _ in range(4)]
        for waiter in waiters:
            waiter.start()
        cancel_later(engine, run["id"], 0.3).join()
        for waiter in waiters:
            waiter.join(GENEROUS_SECONDS)

    assert answers == ["cancelled"] * 4


def test_a_wait_for_an_unknown_run_is_a_404() -> None:
    with a_client(an_engine()) as client:
        response = client.get("/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10", params={"wait": 0.5})

    problem(response, 404)


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"wait": -1}, "wait"),
        ({"wait": 10.5}, "wait"),
        ({"wait": "soon"}, "wait"),
        ({"wait": "nan"}, "wait"),
        ({"wait": 1, "as_of_version": 1}, "wait"),
        ({"wait": 1, "as_of": "2026-05-01T12:00:00Z"}, "wait"),
    ],
)
def test_a_bad_wait_is_a_problem_naming_it(params: dict[str, Any], loc: str) -> None:
    with a_client(an_engine()) as client:
        a_registered_workflow(client)
        run = a_started_run(client)

        response = client.get(f"/v1/runs/{run['id']}", params=params)

    assert response.status_code in (400, 422)
    assert locs(problem(response, response.status_code)) == [loc]
