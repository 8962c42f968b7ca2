"""A thin, single keep-alive HTTP client for the Ledgerflow API, and the loops that await runs."""

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
HTTP_TIMEOUT_S = 30.0
SWEEP_WINDOW = 32
SWEEP_PAUSE_S = 0.005
POLL_PAUSE_S = 0.001
EVENTS_PAGE = 500


class Api:
    """One `httpx.Client` (one keep-alive connection) to the API; submits and reads runs."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT_S)
        self.errors = 0
        self.database_url: str | None = None
        """The store's URL, for workloads that time commits (W4); set by the runner."""

    def close(self) -> None:
        self.http.close()

    def apply_workflow(self, spec: dict[str, Any]) -> None:
        response = self.http.put(f"/v1/workflows/{spec['name']}", json=spec)
        response.raise_for_status()

    def submit(self, workflow: str) -> str | None:
        """Start a run; its id, or None when the API refused or failed (counted in `errors`)."""
        try:
            response = self.http.post(f"/v1/workflows/{workflow}/runs", json={"inputs": {}})
        except httpx.HTTPError:
            self.errors += 1
            return None
        if response.status_code != httpx.codes.ACCEPTED:
            self.errors += 1
            return None
        return str(response.json()["id"])

    def run(self, run_id: str) -> dict[str, Any] | None:
        try:
            response = self.http.get(f"/v1/runs/{run_id}")
        except httpx.HTTPError:
            self.errors += 1
            return None
        if response.status_code != httpx.codes.OK:
            self.errors += 1
            return None
        body: dict[str, Any] = response.json()
        return body

    def event_count(self, run_id: str) -> int:
        """How many events the run's history holds (all pages)."""
        count, cursor = 0, None
        while True:
            params: dict[str, str | int] = {"limit": EVENTS_PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            response = self.http.get(f"/v1/runs/{run_id}/events", params=params)
            response.raise_for_status()
            page = response.json()
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
    """Poll the oldest outstanding runs until all are terminal (or the timeout passes).

    A sweep walks the outstanding runs oldest first and ends after `SWEEP_WINDOW` not-yet
    terminal ones (runs finish roughly in submission order), so the load stays light.
    """
    done = Completion()
    pending = list(run_ids)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        pending = _sweep(api, pending, done, SWEEP_WINDOW)
        if pending:
            time.sleep(SWEEP_PAUSE_S)
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
        body = api.run(run_id)
        if body is not None and body["status"] in TERMINAL:
            done.statuses[run_id] = body["status"]
            done.last_done = time.perf_counter()
            if body.get("finished_at"):
                done.server_times.append(server_times(body))
        else:
            still.append(run_id)
    return still


def server_times(body: dict[str, Any]) -> tuple[datetime, datetime]:
    """A finished run's `created_at` and `finished_at`."""
    return datetime.fromisoformat(body["created_at"]), datetime.fromisoformat(body["finished_at"])


def await_one(api: Api, run_id: str, timeout_s: float) -> tuple[dict[str, Any] | None, float]:
    """Poll one run every ~1 ms; its final view (None on timeout) and when that was observed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = api.run(run_id)
        if body is not None and body["status"] in TERMINAL:
            return body, time.perf_counter()
        time.sleep(POLL_PAUSE_S)
    return None, time.perf_counter()
