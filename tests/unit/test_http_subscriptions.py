"""`/v1/subscriptions`: register a webhook (secret shown once), read it, delete it; refusals."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar.testing import TestClient

from aggregates.errors import SubscriptionNotFoundError
from gateways.http.app import create_app
from gateways.webhooks.store import DeliveryAttempt, MemoryWebhookStore
from tests.unit.test_http_builders import (
    PROBLEM_JSON,
    Client,
    a_probe,
    an_engine,
    no_attempts,
    no_runs,
    no_statistics,
    no_workflows,
)
from tests.unit.test_webhook_addresses import a_policy

URL = "https://hooks.example.com/ledgerflow"


@contextmanager
def a_client(store: MemoryWebhookStore | None = None) -> Iterator[Client]:
    app = create_app(
        an_engine(),
        a_probe(),
        list,
        runs=no_runs,
        workflows=no_workflows,
        attempts=no_attempts,
        statistics=no_statistics,
        projections=list,
        webhook_store=store or MemoryWebhookStore(),
        webhook_addresses=a_policy(),
    )
    with TestClient(app) as client:
        yield client


def subscribe(client: Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/subscriptions", json={"url": URL, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_subscribing_returns_the_id_and_the_secret_once() -> None:
    with a_client() as client:
        created = subscribe(client, types=["RunFailed"], mode="binary")

        read = client.get(f"/v1/subscriptions/{created['id']}").json()

        assert created["secret"].startswith("whsec_")
        assert created["status"] == "active"
        assert "secret" not in read
        assert read["types"] == ["RunFailed"]
        assert read["mode"] == "binary"
        assert read["deliveries"] == []


def test_the_location_header_names_the_subscription() -> None:
    with a_client() as client:
        response = client.post("/v1/subscriptions", json={"url": URL})

        assert response.headers["location"] == f"/v1/subscriptions/{response.json()['id']}"


def test_the_list_shows_the_tenants_subscriptions() -> None:
    with a_client() as client:
        first, second = subscribe(client), subscribe(client, types=["TaskFailed"])

        items = client.get("/v1/subscriptions").json()["items"]

        assert [item["id"] for item in items] == [first["id"], second["id"]]


def test_another_tenants_subscription_does_not_exist() -> None:
    engine = an_engine()
    origin = engine.origin("test")
    subscription = engine.register_subscription(
        uuid4(), "acme", url=URL, types=[], mode="structured", origin=origin
    )

    with pytest.raises(SubscriptionNotFoundError):
        engine.get_subscription("other", subscription.id)
    with pytest.raises(SubscriptionNotFoundError):
        engine.disable_subscription(subscription.id, "deleted", origin, tenant="other")


def test_deleting_disables_the_subscription_and_keeps_it_readable() -> None:
    with a_client() as client:
        created = subscribe(client)

        deleted = client.delete(f"/v1/subscriptions/{created['id']}")
        again = client.delete(f"/v1/subscriptions/{created['id']}")
        read = client.get(f"/v1/subscriptions/{created['id']}").json()

        assert (deleted.status_code, again.status_code) == (204, 204)
        assert (read["status"], read["disabled_reason"]) == ("disabled", "deleted")


def test_the_delivery_log_shows_the_last_attempts_newest_first() -> None:
    store = MemoryWebhookStore()
    with a_client(store) as client:
        created = subscribe(client)
        for attempt, status in enumerate((500, 200), start=1):
            store.record(
                DeliveryAttempt(
                    UUID(created["id"]),
                    position=3,
                    event_id="ledgerflow-3",
                    attempt=attempt,
                    at=datetime(2026, 1, 1, tzinfo=UTC),
                    status_code=status,
                    error="HTTP 500" if status == 500 else None,
                )
            )

        deliveries = client.get(f"/v1/subscriptions/{created['id']}").json()["deliveries"]

        assert [(d["attempt"], d["status_code"], d["error"]) for d in deliveries] == [
            (2, 200, None),
            (1, 500, "HTTP 500"),
        ]


def test_an_unknown_subscription_is_a_404() -> None:
    with a_client() as client:
        response = client.get("/v1/subscriptions/5f0c7d2e-3b8a-4d61-9e2f-1a7c4b9d0e35")

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "https://127.0.0.1/hook"}, "url"),
        ({"url": "https://10.0.0.1/hook"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "https://localhost/hook"}, "url"),
        ({"url": "http://hooks.example.com/hook"}, "url"),
        ({"url": "ftp://hooks.example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://" + "a" * 3000 + ".com/"}, "url"),
        ({"url": URL, "types": ["NoSuchEvent"]}, "types"),
        ({"url": URL, "types": ["RunFailed"] * 51}, "types"),
        ({"url": URL, "mode": "batched"}, "mode"),
        ({"url": URL, "secret": "mine"}, "secret"),
        ({}, "url"),
    ],
)
def test_bad_input_is_a_422_problem_naming_the_field(body: dict[str, Any], loc: str) -> None:
    with a_client() as client:
        response = client.post("/v1/subscriptions", json=body)

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert next(e["loc"] for e in response.json()["errors"]).startswith(loc)
        assert client.get("/v1/subscriptions").json()["items"] == []
