"""The http executor sends one request and judges it by its status; JSON objects become output."""

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from aggregates.spec import TaskSpec
from streams.executors.execution import Execution
from streams.executors.registry import execute
from streams.messages import MAX_TAIL_BYTES, ExecuteTask

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
BIG_JSON = json.dumps({"blob": "x" * 70_000}).encode()
ROUTES: dict[str, tuple[int, bytes]] = {
    "/report": (200, b'{"rows": 3, "ok": true}'),
    "/created": (201, b"made it"),
    "/broken": (500, b"the database is down"),
    "/list": (200, b"[1, 2]"),
    "/big": (200, BIG_JSON),
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Server:
    url: str
    received: list[Request]
    arrived: asyncio.Event


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A tiny HTTP/1.1 server on 127.0.0.1: fixed routes, `/echo` (the request as JSON), `/slow`."""
    received: list[Request] = []
    arrived = asyncio.Event()
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        request = await read_request(reader)
        received.append(request)
        arrived.set()
        if request.path == "/slow":
            await asyncio.sleep(60)
        status, body = ROUTES.get(request.path, (200, b""))
        if request.path == "/echo":
            body = json.dumps({"headers": request.headers, "body": request.body.decode()}).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield Server(f"http://127.0.0.1:{port}", received, arrived)
        for handler in handlers:
            handler.cancel()


async def read_request(reader: asyncio.StreamReader) -> Request:
    method, path, _ = (await reader.readline()).decode().split(" ", 2)
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in {b"\r\n", b""}:
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body)


def an_http_task(url: str, *, timeout: float = 30.0, **fields: Any) -> ExecuteTask:
    return ExecuteTask(
        tenant="default",
        run_id=UUID("00000000-0000-4000-8000-000000000001"),
        workflow="nightly",
        task="notify",
        attempt=1,
        spec=TaskSpec.model_validate(
            {"name": "notify", "executor": "http", "url": url, "timeout_seconds": timeout, **fields}
        ),
    )


async def request(url: str, *, env: dict[str, str] = ENV, **fields: Any) -> Execution:
    return await execute(an_http_task(url, **fields), env, worker="w1")


async def test_a_200_with_a_json_object_succeeds_with_it_as_output(server: Server) -> None:
    execution = await request(f"{server.url}/report")

    assert execution.outcome == "succeeded"
    assert execution.output == {"rows": 3, "ok": True}
    assert execution.stdout_tail == '{"rows": 3, "ok": true}'
    assert server.received[0].method == "GET"


async def test_a_2xx_without_a_json_object_succeeds_with_its_status_as_output(
    server: Server,
) -> None:
    created = await request(f"{server.url}/created")
    listed = await request(f"{server.url}/list")

    assert (created.outcome, created.output, created.stdout_tail) == (
        "succeeded",
        {"status": 201},
        "made it",
    )
    assert (listed.outcome, listed.output) == ("succeeded", {"status": 200})


async def test_a_500_fails_naming_the_status(server: Server) -> None:
    execution = await request(f"{server.url}/broken")

    assert execution.outcome == "failed"
    assert execution.error == "HTTP 500 (expected 2xx)"
    assert execution.stdout_tail == "the database is down"
    assert execution.output is None


async def test_expected_status_decides_success(server: Server) -> None:
    accepted = await request(f"{server.url}/broken", expected_status=[500, 503])
    refused = await request(f"{server.url}/created", expected_status=[200])

    assert (accepted.outcome, accepted.output) == ("succeeded", {"status": 500})
    assert (refused.outcome, refused.error) == ("failed", "HTTP 201 (expected 200)")


async def test_a_json_body_is_sent_as_json_and_a_text_body_as_text(server: Server) -> None:
    await request(f"{server.url}/echo", method="POST", body={"day": "2024-05-01"})
    await request(f"{server.url}/echo", method="PUT", body="plain words")

    as_json, as_text = server.received
    assert (as_json.method, json.loads(as_json.body)) == ("POST", {"day": "2024-05-01"})
    assert as_json.headers["content-type"] == "application/json"
    assert (as_text.method, as_text.body) == ("PUT", b"plain words")


async def test_a_body_over_the_output_limit_gives_the_status_and_the_first_16_kib(
    server: Server,
) -> None:
    execution = await request(f"{server.url}/big")

    assert (execution.outcome, execution.output) == ("succeeded", {"status": 200})
    assert execution.stdout_tail == BIG_JSON[:MAX_TAIL_BYTES].decode()


async def test_secret_headers_are_resolved_and_scrubbed_from_what_is_reported(
    server: Server,
) -> None:
    env = {**ENV, "LEDGERFLOW_SECRET_API_TOKEN": "Bearer s3cr3t-t0ken"}

    execution = await request(
        f"{server.url}/echo",
        env=env,
        headers={"Authorization": {"secret": "API_TOKEN"}, "X-Plain": "visible"},
    )

    assert server.received[0].headers["authorization"] == "Bearer s3cr3t-t0ken"
    assert execution.output is not None
    assert execution.output["headers"]["authorization"] == "***"
    assert execution.output["headers"]["x-plain"] == "visible"
    assert "s3cr3t" not in execution.stdout_tail


async def test_a_refused_connection_fails_saying_so() -> None:
    execution = await request(f"http://127.0.0.1:{a_closed_port()}/nothing")

    assert execution.outcome == "failed"
    assert (execution.error or "").startswith("HTTP request failed: ConnectError")


async def test_a_request_past_the_task_timeout_times_out(server: Server) -> None:
    execution = await request(f"{server.url}/slow", timeout=0.5)

    assert (execution.outcome, execution.error) == ("timed_out", "timed out after 0.5 s")


async def test_a_cancelled_request_stops(server: Server) -> None:
    attempt = asyncio.create_task(request(f"{server.url}/slow"))
    await asyncio.wait_for(server.arrived.wait(), 20)

    attempt.cancel()

    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(attempt, 20)
    assert attempt.cancelled()


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
