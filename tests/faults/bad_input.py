"""Bad input under fire: malformed HTTP requests (from RELIABILITY.md's bad-input list) and
malformed NATS messages, each answered with a 4xx (or a 503 with Retry-After during an outage)
or parked, and none changing anything else."""

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Callable
from typing import Any

import nats

from streams.subjects import Subjects
from tests.faults.client import RequestLog, WorkloadClient
from tests.faults.rig import FaultRig

RUNS = "/v1/workflows/fault-chain/runs"
JSON = {"Content-Type": "application/json"}


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


BadRequest = Callable[[WorkloadClient], object]

BAD_REQUESTS: tuple[tuple[str, BadRequest], ...] = (
    ("invalid JSON", lambda c: c.request("POST", RUNS, content=b"{", headers=JSON)),
    (
        "wrong content type",
        lambda c: c.request("POST", RUNS, content=b"{}", headers={"Content-Type": "text/plain"}),
    ),
    (
        "JSON 100 levels deep",
        lambda c: c.request("POST", RUNS, content=_deep(100).encode(), headers=JSON),
    ),
    (
        "body over 1 MiB",
        lambda c: c.request("POST", RUNS, content=b" " * (1024 * 1024 + 1), headers=JSON),
    ),
    ("NUL in a string", lambda c: c.request("POST", RUNS, json={"inputs": {"x": "a\x00b"}})),
    (
        "server-owned field",
        lambda c: c.request("POST", RUNS, json={"inputs": {}, "status": "succeeded"}),
    ),
    ("malformed run id", lambda c: c.request("GET", "/v1/runs/not-a-uuid")),
    ("unsupported method", lambda c: c.request("DELETE", RUNS)),
    (
        "blank idempotency key",
        lambda c: c.request("POST", RUNS, json={"inputs": {}}, headers={"Idempotency-Key": ""}),
    ),
    ("limit out of range", lambda c: c.request("GET", "/v1/runs", params={"limit": 100_000})),
    (
        "cyclic DAG",
        lambda c: c.request(
            "PUT",
            "/v1/workflows/fault-cycle",
            json={
                "name": "fault-cycle",
                "tasks": [
                    {"name": "a", "executor": "noop", "depends_on": ["b"]},
                    {"name": "b", "executor": "noop", "depends_on": ["a"]},
                ],
            },
        ),
    ),
    (
        "unknown workflow",
        lambda c: c.request("POST", "/v1/workflows/no-such-flow/runs", json={"inputs": {}}),
    ),
)

BAD_MESSAGES: tuple[bytes, ...] = (
    b"not json",
    b'{"schema_version": 99}',
    b"{}",
    b"[" * 10_000,
    json.dumps({"schema_version": 1, "run_id": "nope", "task": "a"}).encode(),
)


class BadInput:
    """Sends one bad thing at a time, drawn from both lists."""

    def __init__(self, rig: FaultRig, log: RequestLog, draw: random.Random) -> None:
        self._client = rig.client(log)
        self._nats_url = rig.nats.url
        self._subjects = Subjects(rig.settings.nats_prefix)
        self._draw = draw
        self.sent: dict[str, int] = {}

    def close(self) -> None:
        self._client.close()

    def send_one(self) -> None:
        if self._draw.random() < 0.7:
            name, send = self._draw.choice(BAD_REQUESTS)
            send(self._client)
        else:
            name = "malformed NATS message"
            subject = self._draw.choice(
                [self._subjects.dispatch("default"), self._subjects.results(0)]
            )
            asyncio.run(_publish(self._nats_url, subject, self._draw.choice(BAD_MESSAGES)))
        self.sent[name] = self.sent.get(name, 0) + 1


def rejected_badly(log: RequestLog) -> list[str]:
    """Bad requests not refused with a 4xx (a 503 with Retry-After is fine during an outage)."""
    return [
        f"{r.method} {r.path}: {r.status or r.error}"
        for r in log.requests
        if not (
            (r.status is not None and 400 <= r.status < 500) or (r.status == 503 and r.retry_after)
        )
    ]


async def _publish(url: str, subject: str, payload: bytes) -> None:
    """Publish, or give up quietly while nats-server is down (that is the nemesis's doing)."""
    with contextlib.suppress(Exception):
        client = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
        try:
            headers: dict[str, Any] = {"Nats-Msg-Id": uuid.uuid4().hex}
            await client.jetstream().publish(subject, payload, headers=headers, timeout=2)
        finally:
            await client.close()
