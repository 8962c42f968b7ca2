"""`GET /v1/events` served by uvicorn on PostgreSQL: pages, and Server-Sent Events that resume."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from engine.application import Ledgerflow
from gateways.http.app import create_app
from gateways.http.event_stream import EventStreaming
from ops.system import (
    build_attempts_view,
    build_projection_status,
    build_runs_view,
    build_statistics_view,
)
from tests.builders import a_spec
from tests.integration.test_event_relay import some_history

pytestmark = pytest.mark.integration

HANG = 30.0
SSE = {"Accept": "text/event-stream"}


async def _database_up() -> Any:
    from gateways.http.health import Readiness

    return Readiness(database=True, nats=True)


@contextlib.asynccontextmanager
async def serving(
    engine: Ledgerflow, streaming: EventStreaming
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on a free local port, and a client of it."""
    attempts, runs = build_attempts_view(engine), build_runs_view(engine)
    app = create_app(
        engine,
        _database_up,
        attempts.workers,
        runs=runs.runs,
        workflows=runs.workflows,
        attempts=attempts.attempts_of,
        statistics=build_statistics_view(engine).buckets,
        projections=build_projection_status(engine),
        event_streaming=streaming,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=HANG) as client:
            yield client
    finally:
        streaming.close()
        server.should_exit = True
        await asyncio.wait_for(task, HANG)


class Events:
    """The Server-Sent Events of one response, parsed as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self) -> dict[str, str] | None:
        """The next event's fields (id, event, data), or None when the stream ended."""
        fields: dict[str, str] = {}
        async for line in self._lines:
            if not line:
                if "data" in fields:
                    return fields
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        return None

    async def take(self, count: int) -> list[dict[str, str]]:
        taken = []
        for _ in range(count):
            event = await asyncio.wait_for(self.next(), HANG)
            assert event is not None, "the stream ended early"
            taken.append(event)
        return taken


def tenant_positions(engine: Ledgerflow, tenant: str = "default") -> list[int]:
    notifications = engine.recorder.select_notifications(start=1, limit=100_000)
    return [
        n.id
        for n in notifications
        if engine.mapper.to_domain_event(n).tenant == tenant  # type: ignore[attr-defined]
    ]


async def test_a_stream_pushes_new_events_and_resumes_after_a_disconnect_without_gap_or_copy(
    engine: Ledgerflow,
) -> None:
    streaming = EventStreaming(poll_seconds=0.05)
    some_history(engine, runs=1)
    backlog = len(tenant_positions(engine))
    received: list[dict[str, str]] = []

    async with serving(engine, streaming) as client:
        async with client.stream("GET", "/v1/events", headers=SSE) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = Events(response)
            received += await events.take(backlog)
            await asyncio.to_thread(some_history, engine, 1)  # committed while connected
            received += await events.take(3)
        await _until(lambda: streaming.open_streams == 0)  # the server saw the disconnect
        await asyncio.to_thread(some_history, engine, 1)
        resume = {**SSE, "Last-Event-ID": received[-1]["id"]}
        async with client.stream("GET", "/v1/events?after=1", headers=resume) as response:
            events = Events(response)
            received += await events.take(len(tenant_positions(engine)) - len(received))

    assert [int(event["id"]) for event in received] == tenant_positions(engine)
    clouds = [json.loads(event["data"]) for event in received]
    assert [cloud["id"] for cloud in clouds] == [f"ledgerflow-{e['id']}" for e in received]
    assert all(cloud["specversion"] == "1.0" for cloud in clouds)
    assert received[0]["event"] == "WorkflowRegistered"


async def test_an_idle_stream_sends_keep_alives_and_ends_when_the_server_shuts_down(
    engine: Ledgerflow,
) -> None:
    streaming = EventStreaming(poll_seconds=0.05, keepalive_seconds=0.1)

    async with serving(engine, streaming) as client:
        async with client.stream("GET", "/v1/events", headers=SSE) as response:
            events = Events(response)
            reading = asyncio.create_task(events.next())
            await _until(lambda: "keep-alive" in events.comments)
            streaming.close()

            assert await asyncio.wait_for(reading, HANG) is None  # the stream ended
        assert streaming.open_streams == 0


async def test_another_tenants_events_are_neither_listed_nor_streamed(engine: Ledgerflow) -> None:
    engine.apply_workflow("acme", a_spec("secret"), engine.origin("tester"))
    some_history(engine, runs=1)
    mine = tenant_positions(engine)
    streaming = EventStreaming(poll_seconds=0.05)
    streaming.close()  # the stream sends what the log holds, then ends

    async with serving(engine, streaming) as client:
        page = (await client.get("/v1/events", params={"limit": 500})).json()
        async with client.stream("GET", "/v1/events", headers=SSE) as response:
            streamed = await Events(response).take(len(mine))
        secret = (await client.get("/v1/events", params={"workflow": "secret"})).json()

    assert [item["position"] for item in page["items"]] == mine
    assert [int(event["id"]) for event in streamed] == mine
    assert {item["tenant"] for item in page["items"]} == {"default"}
    assert secret["items"] == []


async def test_pages_follow_one_another_and_filters_narrow_them(engine: Ledgerflow) -> None:
    some_history(engine, runs=2)
    streaming = EventStreaming()

    async with serving(engine, streaming) as client:
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/v1/events", params=params)).json()
            pages += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        run_id = next(i["run"] for i in pages if i["type"].endswith("run.started.v2"))
        runs = (await client.get("/v1/events", params={"run": run_id})).json()["items"]
        failed = (await client.get("/v1/events", params={"type": ["TaskFailed"]})).json()
        of_pair = (await client.get("/v1/events", params={"workflow": "pair"})).json()

    assert [item["position"] for item in pages] == tenant_positions(engine)
    assert runs
    assert {item["subject"] for item in runs} == {run_id}
    assert [item["data"]["task"] for item in failed["items"]] == ["b", "b"]
    assert {item["workflow"] for item in of_pair["items"]} == {"pair"}
    assert len(of_pair["items"]) == len(pages)  # the worker's event is the system tenant's


async def _until(check: Any) -> None:
    deadline = asyncio.get_running_loop().time() + HANG
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
