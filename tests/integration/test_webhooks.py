"""Webhook deliveries on real PostgreSQL to a real HTTP receiver on 127.0.0.1.

The receiver is the standard library's HTTP server; it checks every signature with its own
HMAC code, not Ledgerflow's, and records what it got in order.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import pytest

from aggregates.subscription import DeliveryMode, SubscriptionStatus
from engine.application import Ledgerflow
from gateways.webhooks.addresses import AddressPolicy, RefusedURLError
from gateways.webhooks.delivery import DeliveryPolicy, WebhookDeliverer
from gateways.webhooks.signing import new_secret
from gateways.webhooks.store import PostgresWebhookStore
from ops.system import WEBHOOK_TRACKING_TABLE, build_tracking, build_webhook_store
from tests.builders import a_spec
from tests.integration.loops import running
from tests.integration.test_event_relay import eventually

pytestmark = pytest.mark.integration

FAST = DeliveryPolicy(
    max_attempts=3, backoff_seconds=0.01, failures_to_disable=2, timeout_seconds=5.0
)


@dataclass
class Receiver:
    """What the local endpoint received: (headers, body) per request, and its answer."""

    secret: str = ""
    status: int = 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    bad_signatures: int = 0
    url: str = ""

    def accept(self, headers: dict[str, str], body: bytes) -> int:
        timestamp = headers["ledgerflow-timestamp"]
        expected = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(headers["ledgerflow-signature"], f"sha256={expected}"):
            self.bad_signatures += 1
        self.received.append((headers, body))
        return self.status


@contextlib.contextmanager
def a_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {key.lower(): value for key, value in self.headers.items()}
            self.send_response(receiver.accept(headers, body))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def subscribed(
    engine: Ledgerflow,
    receiver: Receiver,
    types: list[str],
    mode: DeliveryMode = "structured",
) -> Any:
    store = build_webhook_store(engine)
    receiver.secret = new_secret()
    subscription_id = uuid4()
    store.add(subscription_id, "default", receiver.secret)
    return engine.register_subscription(
        subscription_id,
        "default",
        url=receiver.url,
        types=types,
        mode=mode,
        origin=engine.origin("tester"),
    )


@contextlib.asynccontextmanager
async def delivering(engine: Ledgerflow) -> AsyncIterator[WebhookDeliverer]:
    deliverer = WebhookDeliverer(
        engine,
        build_webhook_store(engine),
        build_tracking(engine, WEBHOOK_TRACKING_TABLE),
        addresses=AddressPolicy(allow_private=True),
        policy=FAST,
        standby_poll_seconds=0.1,
    )
    async with running(deliverer):
        yield deliverer


def some_runs(engine: Ledgerflow, runs: int) -> None:
    origin = engine.origin("tester")
    engine.apply_workflow("default", a_spec("hooked", [{"name": "a", "command": "true"}]), origin)
    for n in range(runs):
        engine.start_run("default", "hooked", {"n": n}, origin)


@pytest.fixture
def store(engine: Ledgerflow) -> PostgresWebhookStore:
    return build_webhook_store(engine)


async def test_matching_events_arrive_in_log_order_and_every_signature_verifies(
    engine: Ledgerflow,
) -> None:
    with a_receiver() as receiver:
        subscribed(engine, receiver, ["RunStarted", "TaskQueued"])
        some_runs(engine, 3)

        async with delivering(engine):
            await eventually(lambda: _count(receiver, 6))

        events = [json.loads(body) for _, body in receiver.received]
        assert receiver.bad_signatures == 0
        assert [e["type"].rsplit(".", 1)[0] for e in events] == [
            "dev.ledgerflow.run.started",
            "dev.ledgerflow.run.task_queued",
        ] * 3
        positions = [e["position"] for e in events]
        assert positions == sorted(positions)
        assert all(
            h["content-type"] == "application/cloudevents+json" for h, _ in receiver.received
        )


async def test_binary_mode_sends_the_data_with_ce_headers(engine: Ledgerflow) -> None:
    with a_receiver() as receiver:
        subscribed(engine, receiver, ["WorkflowRegistered"], mode="binary")
        some_runs(engine, 0)

        async with delivering(engine):
            await eventually(lambda: _count(receiver, 1))

        headers, body = receiver.received[0]
        assert headers["ce-type"].startswith("dev.ledgerflow.workflow.registered.v")
        assert headers["ce-specversion"] == "1.0"
        assert json.loads(body)["name"] == "hooked"
        assert receiver.bad_signatures == 0


async def test_a_failing_receiver_gets_retries_then_the_subscription_is_disabled(
    engine: Ledgerflow, store: PostgresWebhookStore
) -> None:
    with a_receiver() as receiver:
        receiver.status = 500
        subscription = subscribed(engine, receiver, ["RunStarted"])
        some_runs(engine, 3)

        async with delivering(engine) as deliverer:
            await eventually(lambda: _disabled(engine, subscription.id))
            head = await asyncio.to_thread(engine.recorder.max_notification_id)
            await eventually(lambda: _at(deliverer, head or 0))

        after = engine.load_subscription(subscription.id)
        assert after is not None
        assert after.disabled_reason == "failing"
        # Two events failed (three attempts each), then nothing more was tried.
        assert len(receiver.received) == FAST.max_attempts * FAST.failures_to_disable
        log = store.attempts(subscription.id, 20)
        assert [a.attempt for a in log] == [3, 2, 1, 3, 2, 1]
        assert {(a.status_code, a.error) for a in log} == {(500, "HTTP 500")}


async def test_failures_in_a_row_count_across_a_restart_of_the_deliverer(
    engine: Ledgerflow, store: PostgresWebhookStore
) -> None:
    with a_receiver() as receiver:
        receiver.status = 500
        subscription = subscribed(engine, receiver, ["RunStarted"])
        some_runs(engine, 1)
        async with delivering(engine) as first:  # one event fails: below the bound of two
            head = await asyncio.to_thread(engine.recorder.max_notification_id)
            await eventually(lambda: _at(first, head or 0))
        enabled_after_one = not await _disabled(engine, subscription.id)

        some_runs(engine, 1)
        async with delivering(engine) as second:  # a new process: the log remembers the first
            await eventually(lambda: _disabled(engine, subscription.id))

    assert enabled_after_one
    assert len(receiver.received) == FAST.max_attempts * FAST.failures_to_disable
    assert second.outcomes["disabled"] == 1


async def test_a_deleted_subscription_gets_nothing_more(engine: Ledgerflow) -> None:
    with a_receiver() as receiver:
        subscription = subscribed(engine, receiver, ["RunStarted"])
        engine.disable_subscription(
            subscription.id, "deleted", engine.origin("tester"), tenant="default"
        )
        some_runs(engine, 2)

        async with delivering(engine) as deliverer:
            head = await asyncio.to_thread(engine.recorder.max_notification_id)
            await eventually(lambda: _at(deliverer, head or 0))

        assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "http://localhost:8080/hook",
    ],
)
def test_without_the_allow_setting_local_targets_are_refused_by_the_real_resolver(
    url: str,
) -> None:
    with pytest.raises(RefusedURLError):
        AddressPolicy().check(url)


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _disabled(engine: Ledgerflow, subscription_id: Any) -> bool:
    found = await asyncio.to_thread(engine.load_subscription, subscription_id)
    return found is not None and found.status is SubscriptionStatus.DISABLED


async def _at(deliverer: WebhookDeliverer, position: int) -> bool:
    return deliverer.position >= position
