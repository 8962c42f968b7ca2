"""Builders for the HTTP API tests: a real engine on an in-memory store, and a client around it."""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from litestar import Litestar
from litestar.testing import TestClient

from engine.application import Ledgerflow
from engine.history import AuditFilter
from gateways.http.app import create_app
from gateways.http.deadline import DEFAULT_DEADLINE_SECONDS
from gateways.http.health import Readiness, ReadinessProbe
from gateways.http.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_JSON_DEPTH
from gateways.http.metrics import ScheduleTotals
from gateways.http.projections import ProjectionStatuses
from gateways.http.run_lists import RunListing, TaskAttempts
from gateways.http.statistics import StatisticsListing
from gateways.http.workers import WorkerDirectory
from gateways.http.workflow_lists import WorkflowListing
from projections.attempts_view import AttemptRow
from projections.runs.view import RunQuery, RunRow, WorkflowQuery, WorkflowRow
from projections.statistics.view import BucketRow, StatisticsQuery

PROBLEM_JSON = "application/problem+json"
Client = TestClient[Litestar]


class PositionedPOPORecorder(POPOApplicationRecorder):
    """The in-memory recorder, able to say where each of an aggregate's events is in the log."""

    def select_positioned_events(
        self,
        originator_id: UUID,
        *,
        after_version: int,
        limit: int,
        topics: Sequence[str] = (),
    ) -> Sequence[tuple[int, StoredEvent]]:
        with self._database_lock:
            index = self._stored_events_index.get(str(originator_id), {})
            rows = [
                (position + 1, self._stored_events[position])
                for version, position in sorted(index.items())
                if version > after_version
                and (not topics or self._stored_events[position].topic in topics)
            ]
        return rows[:limit]

    def select_audit_events(
        self, tenant: str, where: AuditFilter, *, after_position: int, limit: int
    ) -> Sequence[tuple[int, StoredEvent]]:
        with self._database_lock:
            rows = list(enumerate(self._stored_events, start=1))[after_position:]
        matching = [(position, e) for position, e in rows if _audited(e, tenant, where)]
        return matching[:limit]


def _audited(stored: StoredEvent, tenant: str, where: AuditFilter) -> bool:
    state = json.loads(stored.state)
    at = datetime.fromisoformat(state["timestamp"]["_data_"])
    return (
        state.get("tenant") == tenant
        and where.actor in (None, state.get("actor"))
        and (not where.topics or stored.topic in where.topics)
        and (where.since is None or at >= where.since)
        and (where.until is None or at < where.until)
    )


class PositionedPOPOFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return PositionedPOPORecorder()


class _UnreachableRecorder(PositionedPOPORecorder):
    def select_events(self, *args: Any, **kwargs: Any) -> Sequence[StoredEvent]:
        msg = "connection refused"
        raise OperationalError(msg)


class UnreachableStoreFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return _UnreachableRecorder()


class _BrokenRecorder(PositionedPOPORecorder):
    def select_events(self, *args: Any, **kwargs: Any) -> Sequence[StoredEvent]:
        msg = "secret internals at /srv/ledgerflow"
        raise RuntimeError(msg)


class BrokenStoreFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return _BrokenRecorder()


class _ContendedRecorder(PositionedPOPORecorder):
    """Every cancel collides with another writer of the run, as under heavy contention."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if any(event.topic.endswith("Run.Cancelled") for event in stored_events):
            msg = "another writer got there first"
            raise IntegrityError(msg)
        return super().insert_events(stored_events, **kwargs)


class ContendedStoreFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return _ContendedRecorder()


def an_engine(factory: type[POPOFactory] = PositionedPOPOFactory) -> Ledgerflow:
    return Ledgerflow(env={"PERSISTENCE_MODULE": f"{__name__}:{factory.__name__}"})


def a_probe(*, database: bool = True, nats: bool = True) -> ReadinessProbe:
    async def probe() -> Readiness:
        return Readiness(database=database, nats=nats)

    return probe


def no_runs(tenant: str, query: RunQuery) -> list[RunRow]:
    return []


def no_workflows(tenant: str, query: WorkflowQuery) -> list[WorkflowRow]:
    return []


def no_attempts(run_id: UUID) -> list[AttemptRow]:
    return []


def no_statistics(tenant: str, workflow: str, query: StatisticsQuery) -> list[BucketRow]:
    return []


@contextmanager
def a_client(
    engine: Ledgerflow | None = None,
    readiness: ReadinessProbe | None = None,
    workers: WorkerDirectory | None = None,
    *,
    runs: RunListing = no_runs,
    workflows: WorkflowListing = no_workflows,
    attempts: TaskAttempts = no_attempts,
    statistics: StatisticsListing = no_statistics,
    projections: ProjectionStatuses = list,
    schedule_totals: ScheduleTotals = list,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> Iterator[Client]:
    app = create_app(
        engine or an_engine(),
        readiness or a_probe(),
        workers or list,
        runs=runs,
        workflows=workflows,
        attempts=attempts,
        statistics=statistics,
        projections=projections,
        schedule_totals=schedule_totals,
        max_body_bytes=max_body_bytes,
        max_json_depth=max_json_depth,
        deadline_seconds=deadline_seconds,
    )
    with TestClient(app) as client:
        yield client


def a_spec(name: str = "etl", **fields: Any) -> dict[str, Any]:
    """A valid three-task chain (extract -> transform -> load), with `fields` overridden."""
    spec: dict[str, Any] = {
        "name": name,
        "tasks": [
            {"name": "extract", "command": "echo extract"},
            {"name": "transform", "command": "echo transform", "depends_on": ["extract"]},
            {"name": "load", "command": "echo load", "depends_on": ["transform"]},
        ],
    }
    spec.update(fields)
    return spec


def a_registered_workflow(client: Client, name: str = "etl") -> None:
    response = client.post("/v1/workflows", json=a_spec(name))
    assert response.status_code == 201, response.text


def a_started_run(client: Client, workflow: str = "etl", **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/workflows/{workflow}/runs", json=body)
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    return run


def raw_json(client: Client, path: str, body: bytes, method: str = "POST") -> httpx.Response:
    """Send `body` as it is, labelled as JSON (for bodies `json=` cannot produce)."""
    return client.request(method, path, content=body, headers={"Content-Type": "application/json"})


def recorded(engine: Ledgerflow) -> int:
    """How many events the log holds: unchanged means the request recorded nothing."""
    return engine.recorder.max_notification_id() or 0


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem+json body of `response`, after checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith(("https://ledgerflow.dev/problems/", "about:blank"))
    assert body["title"]
    assert body["detail"]
    return body


def locs(body: dict[str, Any]) -> list[str]:
    return [error["loc"] for error in body.get("errors", [])]
