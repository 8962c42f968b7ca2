"""Other systems around a deployment of separate processes: CloudEvents published on NATS start
runs (a redelivered copy starts nothing), and a webhook receiver gets each run's outcome, signed,
in the sender's trace."""

import asyncio
import json
import time
from collections import Counter

import nats
import pytest

from streams.subjects import Subjects
from tests.e2e.rig import HANG, Deployment, wait_for
from tests.integration.test_webhooks import a_receiver

pytestmark = pytest.mark.e2e

ORDERS = 20
DUPLICATES = 5
SENDER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def an_order(n: int) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"order-{n}",
            "source": "/shop",
            "type": "orders.created",
            "traceparent": SENDER,
            "data": {"order": n},
        }
    ).encode()


def test_published_events_start_one_run_each_and_their_outcomes_reach_a_webhook(
    deployment: Deployment,
) -> None:
    deployment.env["LEDGERFLOW_WEBHOOK_ALLOW_PRIVATE"] = "true"
    deployment.start("w1")
    triggers = [{"subject": "orders.created"}]
    deployment.apply("fulfil", [{"name": "pack", "executor": "noop"}], triggers=triggers)
    with a_receiver() as receiver:
        created = deployment.http.post(
            "/v1/subscriptions", json={"url": receiver.url, "types": ["RunSucceeded"]}
        )
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]

        subject = Subjects(deployment.settings.nats_prefix).triggers("default", "orders.created")

        async def publish() -> None:
            client = await nats.connect(str(deployment.settings.nats_url))
            js = client.jetstream()
            for n in [*range(ORDERS), *range(DUPLICATES)]:
                # A copy outside JetStream's de-duplication window: only the event id guards it.
                await js.publish(
                    subject, an_order(n), headers={"Nats-Msg-Id": f"copy-{time.time_ns()}"}
                )
            await client.close()

        asyncio.run(publish())

        def runs() -> list[dict[str, object]]:
            page = deployment.http.get("/v1/runs", params={"workflow": "fulfil", "limit": 100})
            items: list[dict[str, object]] = page.json()["items"]
            return items

        wait_for(
            lambda: len(runs()) >= ORDERS and {r["status"] for r in runs()} == {"succeeded"},
            "the triggered runs did not all succeed",
        )
        wait_for(lambda: len(receiver.received) >= ORDERS, "the webhook missed outcomes", HANG)
        time.sleep(1.0)  # a duplicate run or delivery would show up by now

    started = runs()
    assert len(started) == ORDERS
    inputs = [deployment.run(str(run["id"]))["inputs"] for run in started]
    assert sorted(run_inputs["data"]["order"] for run_inputs in inputs) == list(range(ORDERS))
    assert receiver.bad_signatures == 0
    delivered = Counter(json.loads(body)["id"] for _, body in receiver.received)
    assert len(delivered) == ORDERS
    assert set(delivered.values()) == {1}
    assert {json.loads(body)["traceparent"] for _, body in receiver.received} == {SENDER}
