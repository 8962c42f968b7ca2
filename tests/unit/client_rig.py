"""An in-process API for client and CLI tests: the real Litestar app behind an httpx transport."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import httpx

from aggregates.run import TaskReport
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from gateways.client.api import LedgerflowClient
from gateways.http.workers import WorkerDirectory
from tests.unit.test_http_builders import Client, a_client, an_engine

API_URL = "http://ledgerflow.test"


class AppTransport(httpx.BaseTransport):
    """Hands each request to the app behind a Litestar test client: no socket, no server."""

    def __init__(self, app: Client) -> None:
        self._app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._app.send(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


class Unreachable(httpx.BaseTransport):
    """Nothing listens: every request is refused, as by a stopped `ledgerflow up`."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        msg = "[Errno 111] Connection refused"
        raise httpx.ConnectError(msg, request=request)


@dataclass
class Api:
    """The app's engine (to play a worker's part) and a transport and client to reach the app."""

    engine: Ledgerflow
    transport: AppTransport

    def client(self, **options: Any) -> LedgerflowClient:
        return LedgerflowClient(API_URL, transport=self.transport, **options)

    def finish(self, run_id: str, outcome: Literal["succeeded", "failed"] = "succeeded") -> None:
        """Play the worker: run every queued task of the run to `outcome`, until none is left."""
        run = self.engine.get_run("default", UUID(run_id))
        while queued := [task for task in run.tasks.values() if task.status is TaskStatus.QUEUED]:
            for task in queued:
                self.engine.record_reports(
                    [
                        _report(run.id, task.name, task.attempt, step)
                        for step in ("started", outcome)
                    ]
                )
            run = self.engine.get_run("default", run.id)


@contextmanager
def an_api(
    engine: Ledgerflow | None = None,
    *,
    workers: WorkerDirectory | None = None,
    **read_models: Any,
) -> Iterator[Api]:
    """The app around `engine`; `read_models` (runs=, attempts=...) as `a_client` takes them."""
    engine = engine or an_engine()
    with a_client(engine, workers=workers, **read_models) as app:
        yield Api(engine, AppTransport(app))


def _report(
    run_id: UUID, task: str, attempt: int, outcome: Literal["started", "succeeded", "failed"]
) -> TaskReport:
    exit_code = None if outcome == "started" else (0 if outcome == "succeeded" else 3)
    return TaskReport(run_id, "default", task, attempt, 1, "w1", outcome, exit_code=exit_code)
