"""Webhook subscriptions: register an endpoint for some event types, read its deliveries, delete."""

import asyncio
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from litestar import Controller, Response, delete, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregates.provenance import Origin
from aggregates.subscription import Subscription
from engine.application import Ledgerflow
from engine.event_types import ALL_EVENTS
from gateways.http.openapi import problem_responses
from gateways.http.paths import SubscriptionId
from gateways.webhooks.addresses import MAX_URL_LENGTH, AddressPolicy, RefusedURLError
from gateways.webhooks.signing import new_secret
from gateways.webhooks.store import DeliveryAttempt, WebhookStore

MAX_TYPES = 50
DELIVERY_LOG_SHOWN = 20
RESOLVE_TIMEOUT_SECONDS = 3.0
_ID = "5f0c7d2e-3b8a-4d61-9e2f-1a7c4b9d0e35"
_URL = "https://hooks.example.com/ledgerflow"
_PATH = "/v1/subscriptions"


class SubscriptionRequest(BaseModel):
    """Where to POST which events, and how."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [{"url": _URL, "types": ["RunFailed", "TaskFailed"], "mode": "structured"}]
        },
    )

    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_URL_LENGTH,
            description="An https URL whose host resolves to public addresses only (loopback, "
            "private, link-local, multicast and metadata addresses are refused, here and at "
            "each delivery).",
            examples=[_URL],
        ),
    ]
    types: Annotated[
        list[str],
        Field(
            max_length=MAX_TYPES,
            description="Flat event type names (`RunFailed`, `TaskSucceeded`...); empty: every "
            "type. An unknown type is a 422.",
            # Not `examples=`: Litestar would add them to the schema again on every app built.
            json_schema_extra={
                "items": {"type": "string", "enum": list(ALL_EVENTS)},
                "examples": [["RunSucceeded", "RunFailed"]],
            },
        ),
    ] = []
    mode: Annotated[
        Literal["structured", "binary"],
        Field(
            description="CloudEvents HTTP content mode: `structured` (the whole CloudEvent as "
            "`application/cloudevents+json`) or `binary` (`data` as the body, attributes as "
            "`ce-*` headers).",
            examples=["structured"],
        ),
    ] = "structured"

    @field_validator("types")
    @classmethod
    def _known(cls, types: list[str]) -> list[str]:
        unknown = sorted(set(types) - set(ALL_EVENTS))
        if unknown:
            msg = f"unknown event type(s) {', '.join(unknown)}"
            raise ValueError(msg)
        return list(dict.fromkeys(types))


class DeliveryView(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: Annotated[str, Field(examples=["ledgerflow-1204"])]
    position: Annotated[int, Field(examples=[1204])]
    attempt: Annotated[int, Field(description="1 for the first try of this event.", examples=[1])]
    at: datetime
    status_code: Annotated[int | None, Field(description="None: no response.", examples=[200])]
    error: Annotated[str | None, Field(description="None: delivered.", examples=[None])]

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> "DeliveryView":
        return cls(
            event_id=attempt.event_id,
            position=attempt.position,
            attempt=attempt.attempt,
            at=attempt.at,
            status_code=attempt.status_code,
            error=attempt.error,
        )


class SubscriptionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: Annotated[UUID, Field(examples=[_ID])]
    url: Annotated[str, Field(examples=[_URL])]
    types: Annotated[list[str], Field(examples=[["RunFailed"]])]
    mode: Annotated[str, Field(examples=["structured"])]
    status: Annotated[str, Field(description="active | disabled", examples=["active"])]
    disabled_reason: Annotated[
        str | None, Field(description="deleted | failing, once disabled.", examples=[None])
    ] = None
    created_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> "SubscriptionView":
        return cls(
            id=subscription.id,
            url=subscription.url,
            types=list(subscription.types),
            mode=subscription.mode,
            status=subscription.status,
            disabled_reason=subscription.disabled_reason,
            created_at=subscription.created_on,
        )


class SubscriptionCreated(SubscriptionView):
    secret: Annotated[
        str,
        Field(
            description="Signs every delivery (`Ledgerflow-Signature`); shown this once.",
            examples=["whsec_3q2-7wJc9mVx0Zr4yT1bN6aLdE8kHfGsUoPiQjX5ve"],
        ),
    ]


class SubscriptionDetail(SubscriptionView):
    deliveries: Annotated[
        list[DeliveryView],
        Field(description=f"The last {DELIVERY_LOG_SHOWN} attempts, newest first."),
    ]


class SubscriptionPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[SubscriptionView]
    next_cursor: Annotated[str | None, Field(description="Always null: the list is complete.")] = (
        None
    )


_SIGNING = """\
Each delivery is an HTTP POST of one CloudEvent (`structured` or `binary` content mode) with \
`Ledgerflow-Timestamp: <unix seconds>` and `Ledgerflow-Signature: sha256=<hex>`, the \
HMAC-SHA256 of `<timestamp>.<body>` with the subscription's secret: verify it, and refuse old \
timestamps to stop replays. Events arrive in log order, at least once (de-duplicate by `id`); \
a failed or non-2xx delivery is retried with exponential backoff, and after several events \
in a row fail the subscription is disabled (`SubscriptionDisabled`, reason `failing`)."""


class SubscriptionController(Controller):
    """Webhook subscriptions of the tenant: registered and disabled as events."""

    path = _PATH
    tags = ["subscriptions"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post(
        "/",
        status_code=201,
        summary="Subscribe a webhook endpoint to events",
        description="Registers an https endpoint for the tenant's events of some types; the "
        "answer holds the subscription's secret, shown only this once.\n\n" + _SIGNING,
        response_description="Subscribed; `Location` is the subscription's URL.",
        response_headers=[
            ResponseHeader(
                name="Location",
                value=f"{_PATH}/{_ID}",
                documentation_only=True,
                description="The subscription's URL.",
            )
        ],
        responses={
            201: ResponseSpec(
                data_container=SubscriptionCreated,
                description="Subscribed; `Location` is the subscription's URL.",
            ),
            **problem_responses(413, 415),
        },
    )
    async def subscribe(
        self,
        *,
        data: Annotated[SubscriptionRequest, Body(title="Subscription")],
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        webhook_store: NamedDependency[WebhookStore],
        webhook_addresses: NamedDependency[AddressPolicy],
    ) -> Response[SubscriptionCreated]:
        await _checked(webhook_addresses, data.url)
        subscription_id, secret = uuid4(), new_secret()

        def register() -> Subscription:
            # The secret first: the delivery worker finds one for every subscription it sees.
            webhook_store.add(subscription_id, tenant, secret)
            return engine.register_subscription(
                subscription_id,
                tenant,
                url=data.url,
                types=list(data.types),
                mode=data.mode,
                origin=origin,
            )

        subscription = await asyncio.to_thread(register)
        view = SubscriptionView.of(subscription)
        return Response(
            SubscriptionCreated(**view.model_dump(), secret=secret),
            status_code=201,
            headers={"Location": f"{_PATH}/{subscription.id}"},
        )

    @get(
        "/",
        sync_to_thread=True,
        summary="List webhook subscriptions",
        description="The tenant's subscriptions, active and disabled, oldest first.",
        responses=problem_responses(),
    )
    def list_subscriptions(
        self,
        *,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        webhook_store: NamedDependency[WebhookStore],
    ) -> SubscriptionPage:
        found = (engine.load_subscription(i) for i in webhook_store.ids_of(tenant))
        return SubscriptionPage(
            items=[SubscriptionView.of(s) for s in found if s is not None and s.tenant == tenant]
        )

    @get(
        "/{subscription_id:uuid}",
        sync_to_thread=True,
        summary="Read a webhook subscription and its delivery log",
        description=f"The subscription, its status, and its last {DELIVERY_LOG_SHOWN} delivery "
        "attempts (event, attempt number, status code, error, time), newest first.",
        responses=problem_responses(404),
    )
    def read_subscription(
        self,
        *,
        subscription_id: SubscriptionId,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        webhook_store: NamedDependency[WebhookStore],
    ) -> SubscriptionDetail:
        subscription = engine.get_subscription(tenant, subscription_id)
        attempts = webhook_store.attempts(subscription_id, DELIVERY_LOG_SHOWN)
        return SubscriptionDetail(
            **SubscriptionView.of(subscription).model_dump(),
            deliveries=[DeliveryView.of(a) for a in attempts],
        )

    @delete(
        "/{subscription_id:uuid}",
        status_code=204,
        sync_to_thread=True,
        summary="Delete (disable) a webhook subscription",
        description="Records `SubscriptionDisabled` (reason `deleted`): nothing more is "
        "delivered. The subscription and its delivery log stay readable; deleting it again "
        "changes nothing (204).",
        response_description="Disabled (or already disabled); no body.",
        responses=problem_responses(404),
    )
    def unsubscribe(
        self,
        *,
        subscription_id: SubscriptionId,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
    ) -> None:
        engine.disable_subscription(subscription_id, "deleted", origin, tenant=tenant)


async def _checked(addresses: AddressPolicy, url: str) -> None:
    """A 422 on `url` unless the policy allows it (its host resolved within a bound)."""
    try:
        addresses.check_form(url)
        await asyncio.wait_for(asyncio.to_thread(addresses.check, url), RESOLVE_TIMEOUT_SECONDS)
    except RefusedURLError as error:
        raise _invalid_url(str(error)) from None
    except TimeoutError:
        raise _invalid_url("its host did not resolve in time") from None


def _invalid_url(message: str) -> ValidationException:
    return ValidationException(
        detail="url is not valid", extra=[{"key": "url", "message": message, "source": "body"}]
    )
