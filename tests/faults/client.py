"""The workload's HTTP client: submits runs and keeps a log of every request and its answer."""

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUEST_TIMEOUT_SECONDS = 30.0
"""Longer than the API's own budget (statement and pool timeouts): a hang shows as an error."""


@dataclass(frozen=True)
class Request:
    """One request as the client saw it: what, when, how long, and the answer (or error)."""

    method: str
    path: str
    started: float
    seconds: float
    status: int | None
    retry_after: str | None = None
    run_id: str | None = None
    error: str | None = None


@dataclass
class RequestLog:
    """Every request the workload made, in order; runs count as accepted only after a 2xx."""

    requests: list[Request] = field(default_factory=list)

    @property
    def accepted(self) -> list[str]:
        return sorted({r.run_id for r in self.requests if r.run_id is not None})

    def server_errors(self) -> list[Request]:
        """5xx answers other than 503, and 503s without `Retry-After`: broken promises."""
        return [
            r
            for r in self.requests
            if r.status is not None
            and r.status >= 500
            and (r.status != 503 or r.retry_after is None)
        ]

    def count(self, status: int) -> int:
        return sum(1 for r in self.requests if r.status == status)


class WorkloadClient:
    """Submits runs with an `Idempotency-Key`, so a retried submission is the same run."""

    def __init__(self, url: str, log: RequestLog, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.log = log

    def close(self) -> None:
        self.http.close()

    def submit(self, workflow: str, inputs: dict[str, Any], key: str | None = None) -> str | None:
        """The accepted run's id, or None if the API did not accept it (logged either way)."""
        response = self.request(
            "POST",
            f"/v1/workflows/{workflow}/runs",
            json={"inputs": inputs},
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )
        if response is None or not response.is_success:
            return None
        return str(response.json()["id"])

    def submit_until_accepted(
        self, workflow: str, inputs: dict[str, Any], within: float, key: str | None = None
    ) -> str | None:
        """Retry one submission (same key) until accepted or `within` seconds have passed."""
        key = key or uuid.uuid4().hex
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if (run_id := self.submit(workflow, inputs, key)) is not None:
                return run_id
            time.sleep(0.5)
        return None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self.log.requests.append(
                Request(method, path, started, time.monotonic() - started, None, error=repr(error))
            )
            return None
        run_id = None
        if method == "POST" and path.endswith("/runs") and response.is_success:
            run_id = str(response.json()["id"])
        self.log.requests.append(
            Request(
                method,
                path,
                started,
                time.monotonic() - started,
                response.status_code,
                retry_after=response.headers.get("Retry-After"),
                run_id=run_id,
            )
        )
        return response
