"""Inbound triggers against real PostgreSQL and nats-server: one run per message id, bad ones
parked, tenants kept apart."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from aggregates.names import triggered_run_id
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from streams.dead_letters import PARKED_REASON_HEADER, PARKED_SUBJECT_HEADER
from streams.subjects import Subjects
from streams.triggers import TriggerConsumer
from tests.integration.loops import running
from tests.integration.test_http_on_postgres import a_client as a_client_on

pytestmark = pytest.mark.integration

HANG = 30.0
CLOUD_EVENT = {"Content-Type": "application/cloudevents+json"}


async def eventually(check: Callable[[], Awaitable[bool]], within: float = HANG) -> None:
    """Wait until `check` holds; the bound only detects hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


def a_triggered_workflow(
    engine: Ledgerflow, tenant: str = "default", name: str = "fulfil", **trigger: Any
) -> None:
    spec = WorkflowSpec.model_validate(
        {
            "name": name,
            "tasks": [{"name": "a", "command": "echo a"}],
            "triggers": [{"subject": "orders.created", **trigger}],
        }
    )
    engine.register_workflow(tenant, spec, engine.origin("test"))


def an_event(event_id: str, status: str = "paid") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/shop",
            "type": "orders.created",
            "data": {"status": status},
        }
    ).encode()


def exists(engine: Ledgerflow, tenant: str, event_id: str, workflow: str = "fulfil") -> bool:
    return engine.load_run(triggered_run_id(tenant, workflow, event_id)) is not None


async def publish(nc: NatsClient, subject: str, data: bytes, msg_id: str | None = None) -> None:
    headers = None if msg_id is None else {"Nats-Msg-Id": msg_id}
    await nc.jetstream().publish(subject, data, headers=headers)


async def test_a_hundred_messages_with_ten_duplicates_start_a_hundred_runs(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    a_triggered_workflow(engine)
    subject = subjects.triggers("default", "orders.created")
    for number in range(100):
        await publish(nc, subject, an_event(f"order-{number}"))
    for number in range(0, 100, 10):  # re-sent copies: new JetStream messages, same event id
        await publish(nc, subject, an_event(f"order-{number}"))

    async with running(TriggerConsumer(engine, nc.jetstream(), subjects)) as consumer:
        await eventually(lambda: _settled(consumer, 110))

    assert consumer.counts["started"] == 100
    assert consumer.counts["duplicates"] == 10
    assert all(exists(engine, "default", f"order-{number}") for number in range(100))


async def test_a_message_the_filter_refuses_starts_nothing(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    a_triggered_workflow(engine, filter={"data.status": "paid"})

    await publish(nc, subjects.triggers("default", "orders.created"), an_event("o-1", "pending"))

    async with running(TriggerConsumer(engine, nc.jetstream(), subjects)) as consumer:
        await eventually(lambda: _settled(consumer, 1))
    assert consumer.counts["unmatched"] == 1
    assert not exists(engine, "default", "o-1")


async def test_a_garbage_message_is_parked_and_the_next_good_one_starts_a_run(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    a_triggered_workflow(engine)
    subject = subjects.triggers("default", "orders.created")
    await publish(nc, subject, b"\x00not json")
    await publish(nc, subject, b'{"specversion": "1.0"}')
    await publish(nc, subject, an_event("big") + b" " * (300 * 1024))
    await publish(nc, subject, an_event("good"))

    async with running(TriggerConsumer(engine, nc.jetstream(), subjects)) as consumer:
        await eventually(lambda: _settled(consumer, 4))

    assert consumer.counts["parked"] == 3
    assert exists(engine, "default", "good")
    assert not exists(engine, "default", "big")
    parked = await nc.jetstream().get_last_msg(
        subjects.parked_stream, subjects.parked(subjects.triggers_stream)
    )
    assert parked.headers is not None
    assert parked.headers[PARKED_SUBJECT_HEADER] == subject
    assert "inputs limit" in parked.headers[PARKED_REASON_HEADER]
    with pytest.raises(NotFoundError):  # nothing left behind in the work queue
        await nc.jetstream().get_last_msg(subjects.triggers_stream, subject)


async def test_the_nats_msg_id_stands_in_for_a_missing_event_id(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    a_triggered_workflow(engine)
    event = {"specversion": "1.0", "source": "/shop", "type": "orders.created"}

    await publish(
        nc, subjects.triggers("default", "orders.created"), json.dumps(event).encode(), "m-7"
    )

    async with running(TriggerConsumer(engine, nc.jetstream(), subjects)) as consumer:
        await eventually(lambda: _settled(consumer, 1))
    assert exists(engine, "default", "m-7")


async def test_a_message_starts_runs_of_its_own_tenant_only(
    engine: Ledgerflow, nc: NatsClient, subjects: Subjects
) -> None:
    a_triggered_workflow(engine, tenant="acme")
    a_triggered_workflow(engine, tenant="globex")

    await publish(nc, subjects.triggers("acme", "orders.created"), an_event("shared-id"))

    async with running(TriggerConsumer(engine, nc.jetstream(), subjects)) as consumer:
        await eventually(lambda: _settled(consumer, 1))
    assert exists(engine, "acme", "shared-id")
    assert not exists(engine, "globex", "shared-id")
    run = engine.get_run("acme", triggered_run_id("acme", "fulfil", "shared-id"))
    assert (run.trigger, run.correlation_id) == ("event", "shared-id")
    assert run.request_hash == "event:orders.created:shared-id"


async def _settled(consumer: TriggerConsumer, messages: int) -> bool:
    counts = consumer.counts
    handled = counts["parked"] + counts["unmatched"]
    return handled + counts["started"] + counts["duplicates"] >= messages


def test_http_ingest_starts_a_run_once_per_event_id_and_refuses_bad_input(
    engine: Ledgerflow,
) -> None:
    a_triggered_workflow(engine)
    with a_client_on(engine) as client:
        first = client.post("/v1/events/ingest", content=an_event("h-1"), headers=CLOUD_EVENT)
        again = client.post("/v1/events/ingest", content=an_event("h-1"), headers=CLOUD_EVENT)
        bad = client.post("/v1/events/ingest", content=b'{"id": "h-2"}', headers=CLOUD_EVENT)

    assert first.status_code == 202, first.text
    assert again.status_code == 200, again.text
    assert again.json()["runs"][0]["run_id"] == first.json()["runs"][0]["run_id"]
    assert bad.status_code == 422
    assert exists(engine, "default", "h-1")
    assert not exists(engine, "default", "h-2")
