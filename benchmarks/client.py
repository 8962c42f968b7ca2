"""A thin, single keep-alive HTTP client for the Ledgerflow API, and the loops that await runs."""

import http.client
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
HTTP_TIMEOUT_S = 30.0
SWEEP_WINDOW = 32
WAIT_S = 10.0
"""The longest the API holds a `GET /v1/runs/{id}?wait=` answer."""
SWEEP_WAIT_S = 1.0
EVENTS_PAGE = 500
ACCEPTED, OK = 202, 200


class ApiError(Exception):
    """An answer other than the one asked for, or no answer."""


class Api:
    """One keep-alive HTTP/1.1 connection to the API (`http.client`); submits and reads runs.

    The standard library's client costs about 0.4 ms of CPU per request here, httpx about
    1.2 ms: the client shares the 2 cores with what it measures.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        address = urlsplit(self.base_url)
        self._host, self._port = address.hostname or "127.0.0.1", address.port or 80
        self._connection = self._connect()
        self.errors = 0
        self.database_url: str | None = None
        """The store's URL, for workloads that time commits (W4); set by the runner."""

    def close(self) -> None:
        self._connection.close()

    def request(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON or None); one reconnect when the server closed an idle
        keep-alive connection (it answered nothing on it, so nothing ran twice)."""
        target = f"{path}?{urlencode(params)}" if params else path
        data = None if body is None else json.dumps(body).encode()
        headers = {} if data is None else {"Content-Type": "application/json"}
        for retry in (False, True):
            try:
                self._connection.request(method, target, body=data, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._connection.close()
                self._connection = self._connect()
                if retry:
                    raise
                continue
            except (OSError, http.client.HTTPException) as error:
                self._connection.close()
                self._connection = self._connect()
                raise ApiError(str(error)) from error
            return response.status, json.loads(raw) if raw else None
        raise AssertionError("unreachable")

    def apply_workflow(self, spec: dict[str, Any]) -> None:
        self.expect("PUT", f"/v1/workflows/{spec['name']}", spec)

    def expect(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        if not 200 <= status < 300:
            raise ApiError(f"{method} {path}: {status} {answer}")
        return answer

    def submit(self, workflow: str) -> str | None:
        """Start a run; its id, or None when the API refused or failed (counted in `errors`)."""
        try:
            status, body = self.request("POST", f"/v1/workflows/{workflow}/runs", {"inputs": {}})
        except (ApiError, OSError, http.client.HTTPException):
            self.errors += 1
            return None
        if status != ACCEPTED:
            self.errors += 1
            return None
        return str(body["id"])

    def run(self, run_id: str, wait: float | None = None) -> dict[str, Any] | None:
        """The run (None when the API failed); with `wait`, once it has ended or after `wait` s."""
        params = None if not wait else {"wait": wait}
        try:
            status, body = self.request("GET", f"/v1/runs/{run_id}", params=params)
        except (ApiError, OSError, http.client.HTTPException):
            self.errors += 1
            return None
        if status != OK:
            self.errors += 1
            return None
        result: dict[str, Any] = body
        return result

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=HTTP_TIMEOUT_S)

    def event_count(self, run_id: str) -> int:
        """How many events the run's history holds (all pages)."""
        count, cursor = 0, None
        while True:
            params: dict[str, str | int] = {"limit": EVENTS_PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            status, page = self.request("GET", f"/v1/runs/{run_id}/events", params=params)
            if status != OK:
                raise ApiError(f"GET /v1/runs/{run_id}/events: {status} {page}")
            count += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return count


@dataclass
class Completion:
    """What awaiting a set of runs observed."""

    statuses: dict[str, str] = field(default_factory=dict)
    last_done: float = 0.0
    timed_out: int = 0
    server_times: list[tuple[datetime, datetime]] = field(default_factory=list)
    """Each finished run's own `created_at` and `finished_at`, as the server recorded them."""

    @property
    def not_succeeded(self) -> int:
        return sum(1 for status in self.statuses.values() if status != "succeeded")


def await_all(api: Api, run_ids: list[str], timeout_s: float) -> Completion:
    """Await the outstanding runs until all are terminal (or the timeout passes).

    A sweep reads the outstanding runs oldest first and ends after `SWEEP_WINDOW` not-yet
    terminal ones (runs finish roughly in submission order); between sweeps the client long
    polls the oldest (`?wait=`), so it asks again the moment that one ends and no sooner.
    """
    done = Completion()
    pending = list(run_ids)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        pending = _sweep(api, pending, done, SWEEP_WINDOW)
        if pending:
            wait = min(SWEEP_WAIT_S, max(deadline - time.monotonic(), 0.0))
            if _recorded(done, pending[0], api.run(pending[0], wait=round(wait, 3))):
                pending.pop(0)
    if pending:  # one last full sweep so late runs are classified, not guessed
        pending = _sweep(api, pending, done, len(pending))
    done.timed_out = len(pending)
    return done


def _sweep(api: Api, pending: list[str], done: Completion, window: int) -> list[str]:
    still: list[str] = []
    for index, run_id in enumerate(pending):
        if len(still) >= window:
            still.extend(pending[index:])
            break
        if not _recorded(done, run_id, api.run(run_id)):
            still.append(run_id)
    return still


def _recorded(done: Completion, run_id: str, body: dict[str, Any] | None) -> bool:
    """Whether `body` shows the run ended (then it is counted in `done`)."""
    if body is None or body["status"] not in TERMINAL:
        return False
    done.statuses[run_id] = body["status"]
    done.last_done = time.perf_counter()
    if body.get("finished_at"):
        done.server_times.append(server_times(body))
    return True


def server_times(body: dict[str, Any]) -> tuple[datetime, datetime]:
    """A finished run's `created_at` and `finished_at`."""
    return datetime.fromisoformat(body["created_at"]), datetime.fromisoformat(body["finished_at"])


def await_one(api: Api, run_id: str, timeout_s: float) -> tuple[dict[str, Any] | None, float]:
    """Long poll one run until it ends; its final view (None on timeout) and when that was
    observed."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        body = api.run(run_id, wait=round(min(WAIT_S, left), 3))
        if body is not None and body["status"] in TERMINAL:
            return body, time.perf_counter()
    return None, time.perf_counter()
