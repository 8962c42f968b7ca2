"""`LedgerflowClient`: one typed, synchronous method per route of the HTTP API, over httpx."""

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

import httpx

from gateways.client.address import base_url
from gateways.client.errors import ApiError, ApiUnreachableError
from gateways.client.pages import Page, follow
from gateways.client.views import (
    TERMINAL_STATUSES,
    Attempt,
    Event,
    ProjectionStatus,
    Run,
    RunSummary,
    StatisticsBucket,
    Timeline,
    Worker,
    WorkflowApplied,
    WorkflowDefinition,
    WorkflowSummary,
)

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_WAIT_SECONDS = 10.0
"""The longest a `GET /v1/runs/{id}?wait=` may hold its answer (the server's limit)."""

RunId = UUID | str
Instant = datetime | str
Params = Mapping[str, str | int | float | Sequence[str] | None]


class LedgerflowClient:
    """The API at `url` (else `$LEDGERFLOW_API_URL`, else http://127.0.0.1:8080).

    `headers` go with every request (a tenant or credentials, once the API takes them);
    `transport` replaces the network (tests pass one into an in-process app).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url(url)
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "LedgerflowClient":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Workflows

    def create_workflow(self, spec: Mapping[str, Any]) -> WorkflowApplied:
        """Register version 1 of a new workflow (an `ApiError` 409 if the name exists)."""
        return cast(WorkflowApplied, self._call("POST", "/v1/workflows", body=spec))

    def apply_workflow(self, spec: Mapping[str, Any]) -> WorkflowApplied:
        """Create or revise the workflow `spec` names; `applied` says which, or `unchanged`."""
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            msg = "the workflow definition has no `name`"
            raise ValueError(msg)
        return cast(WorkflowApplied, self._call("PUT", _path("workflows", name), body=spec))

    def get_workflow(self, name: str, version: int | None = None) -> WorkflowDefinition:
        """The definition at `version`, the current one by default."""
        params = {"version": version}
        return cast(WorkflowDefinition, self._call("GET", _path("workflows", name), params))

    def list_workflows(
        self,
        *,
        include_retired: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[WorkflowSummary]:
        """Workflows by name; retired ones only with `include_retired`."""
        params = {
            "include_retired": "true" if include_retired else None,
            "limit": limit,
            "cursor": cursor,
        }
        return cast(Page[WorkflowSummary], self._call("GET", "/v1/workflows", params))

    def iter_workflows(
        self, *, include_retired: bool = False, limit: int | None = None
    ) -> Iterator[WorkflowSummary]:
        return follow(
            lambda cursor: self.list_workflows(
                include_retired=include_retired, limit=limit, cursor=cursor
            )
        )

    def retire_workflow(self, name: str, reason: str | None = None) -> None:
        """Start no more runs of the workflow (applying it again restores it)."""
        self._call("DELETE", _path("workflows", name), {"reason": reason})

    def workflow_statistics(
        self,
        name: str,
        *,
        granularity: str | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[StatisticsBucket]:
        """Run counts and durations of a workflow per `hour` or `day` bucket."""
        params = {
            "granularity": granularity,
            "since": _instant(since),
            "until": _instant(until),
            "limit": limit,
            "cursor": cursor,
        }
        path = _path("workflows", name, "statistics")
        return cast(Page[StatisticsBucket], self._call("GET", path, params))

    def iter_workflow_statistics(
        self, name: str, *, limit: int | None = None, **window: Any
    ) -> Iterator[StatisticsBucket]:
        """Every bucket `workflow_statistics(name, **window)` lists, following the pages."""
        return follow(
            lambda cursor: self.workflow_statistics(name, **window, limit=limit, cursor=cursor)
        )

    # Runs

    def start_run(
        self,
        workflow: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Run:
        """Start a run of the workflow's current version; a key makes a retried call safe."""
        body = {"inputs": dict(inputs or {})}
        path = _path("workflows", workflow, "runs")
        return cast(Run, self._call("POST", path, body=body, key=idempotency_key))

    def start_adhoc_run(
        self,
        spec: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Run:
        """Run a definition without registering it."""
        body = {"workflow": dict(spec), "inputs": dict(inputs or {})}
        return cast(Run, self._call("POST", "/v1/runs", body=body, key=idempotency_key))

    def get_run(
        self,
        run_id: RunId,
        *,
        as_of_version: int | None = None,
        as_of: Instant | None = None,
    ) -> Run:
        """The run and its tasks, read from the run's own events (strongly consistent); with
        `as_of_version` or `as_of`, as it stood after that event or at that instant."""
        params = {"as_of_version": as_of_version, "as_of": _instant(as_of)}
        return cast(Run, self._call("GET", _path("runs", str(run_id)), params))

    def list_runs(
        self,
        *,
        workflow: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        trigger: str | Sequence[str] | None = None,
        created_after: Instant | None = None,
        created_before: Instant | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[RunSummary]:
        """Runs newest first; each filter matches any of its values."""
        params = {
            "workflow": _values(workflow),
            "status": _values(status),
            "trigger": _values(trigger),
            "created_after": _instant(created_after),
            "created_before": _instant(created_before),
            "limit": limit,
            "cursor": cursor,
        }
        return cast(Page[RunSummary], self._call("GET", "/v1/runs", params))

    def iter_runs(self, **filters: Any) -> Iterator[RunSummary]:
        """Every run `list_runs(**filters)` matches, following the pages."""
        return follow(lambda cursor: self.list_runs(**filters, cursor=cursor))

    def cancel_run(self, run_id: RunId, reason: str | None = None) -> Run:
        body = {} if reason is None else {"reason": reason}
        return cast(Run, self._call("POST", _path("runs", str(run_id), "cancel"), body=body))

    def retry_run(self, run_id: RunId) -> Run:
        """Start a new run linked to this failed or cancelled one; returns the new run."""
        return cast(Run, self._call("POST", _path("runs", str(run_id), "retry")))

    def fork_run(
        self, run_id: RunId, from_version: int, *, idempotency_key: str | None = None
    ) -> Run:
        """Start a new run from this run's state after its `from_version`-th event (what had
        succeeded by then is reused); returns the new run."""
        path = _path("runs", str(run_id), "fork")
        params = {"from_version": from_version}
        return cast(Run, self._call("POST", path, params, key=idempotency_key))

    def run_events(
        self,
        run_id: RunId,
        *,
        after: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        types: Sequence[str] | None = None,
    ) -> Page[Event]:
        """A page of the run's history, oldest first; `after` is a run version, `types`
        keeps only events of those flat types."""
        params = {"after": after, "limit": limit, "cursor": cursor, "type": _values(types)}
        path = _path("runs", str(run_id), "events")
        return cast(Page[Event], self._call("GET", path, params))

    def iter_run_events(
        self, run_id: RunId, *, limit: int | None = None, types: Sequence[str] | None = None
    ) -> Iterator[Event]:
        return follow(
            lambda cursor: self.run_events(run_id, limit=limit, cursor=cursor, types=types)
        )

    def run_timeline(self, run_id: RunId) -> Timeline:
        """The run's history told in words, and each task's waiting and running time."""
        return cast(Timeline, self._call("GET", _path("runs", str(run_id), "timeline")))

    def run_tasks(self, run_id: RunId) -> list[Attempt]:
        """Every attempt of every task of the run, in definition order."""
        page = cast(Page[Attempt], self._call("GET", _path("runs", str(run_id), "tasks")))
        return page["items"]

    def wait_for_run(self, run_id: RunId, *, timeout: float | None = None) -> Run:
        """The run once it has finished; `TimeoutError` if it has not within `timeout` s.

        Long polls (`GET /v1/runs/{id}?wait=S`): the server answers as soon as the run ends.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        path = _path("runs", str(run_id))
        while True:
            left = MAX_WAIT_SECONDS if deadline is None else deadline - time.monotonic()
            # Below our own read timeout too, so a held answer never looks like a lost one.
            wait = round(min(MAX_WAIT_SECONDS, self.timeout / 2, max(left, 0.0)), 3)
            run = cast(Run, self._call("GET", path, {"wait": wait or None}))
            if run["status"] in TERMINAL_STATUSES:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                msg = f"run {run_id} is still {run['status']} after {timeout:g}s"
                raise TimeoutError(msg)

    # Workers and read models

    def list_workers(self) -> list[Worker]:
        return cast(Page[Worker], self._call("GET", "/v1/workers"))["items"]

    def list_projections(self) -> list[ProjectionStatus]:
        """Each read model's position in the event log and how far behind its head it is."""
        return cast(Page[ProjectionStatus], self._call("GET", "/v1/projections"))["items"]

    def _call(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> Any:
        """The JSON answer (None for 204); `ApiError` or `ApiUnreachableError` otherwise."""
        query = {name: value for name, value in (params or {}).items() if value is not None}
        headers = {} if key is None else {"Idempotency-Key": key}
        try:
            response = self._http.request(method, path, params=query, json=body, headers=headers)
        except httpx.ConnectError as error:
            raise ApiUnreachableError(self.base_url, str(error), refused=True) from error
        except httpx.TimeoutException as error:
            reason = f"no answer within {self.timeout:g}s"
            raise ApiUnreachableError(self.base_url, reason) from error
        except httpx.TransportError as error:
            raise ApiUnreachableError(self.base_url, str(error) or type(error).__name__) from error
        if response.is_error:
            raise ApiError.of(response)
        return None if response.status_code == httpx.codes.NO_CONTENT else response.json()


def _path(*segments: str) -> str:
    return "/v1/" + "/".join(quote(segment, safe="") for segment in segments)


def _values(value: str | Sequence[str] | None) -> Sequence[str] | None:
    if value is None or isinstance(value, str):
        return None if value is None else [value]
    return list(value) or None


def _instant(value: Instant | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
