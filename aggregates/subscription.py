"""The Subscription aggregate: a webhook endpoint a tenant registered, until it is disabled."""

from enum import StrEnum
from typing import Literal
from uuid import UUID

from eventsourcing.domain import event

from aggregates.provenance import AttributedAggregate, Origin

DeliveryMode = Literal["structured", "binary"]
DisableReason = Literal["deleted", "failing"]


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Subscription(AttributedAggregate):
    """Where a tenant wants the events of some types POSTed, as CloudEvents over HTTP.

    Its secret is not part of it (secrets never enter events): the webhook store keeps it.
    Delivery attempts are not events either (ADR 0017); only giving up on a failing endpoint is.
    """

    class Registered(AttributedAggregate.Created, AttributedAggregate.Event):
        url: str
        types: list[str]
        mode: str

    class Disabled(AttributedAggregate.Event):
        reason: str

    @classmethod
    def register(
        cls,
        *,
        subscription_id: UUID,
        tenant: str,
        url: str,
        types: list[str],
        mode: DeliveryMode,
        origin: Origin,
    ) -> "Subscription":
        return cls._create(
            cls.Registered,
            id=subscription_id,
            **origin.provenance(tenant),
            url=url,
            types=types,
            mode=mode,
        )

    @event(Registered)
    def __init__(self, tenant: str, url: str, types: list[str], mode: str) -> None:
        self.tenant = tenant
        self.url = url
        self.types = types
        self.mode = mode
        self.status = SubscriptionStatus.ACTIVE
        self.disabled_reason: str | None = None

    def wants(self, tenant: str, flat_type: str) -> bool:
        """Whether an event of `tenant` and `flat_type` is delivered (no types: every type)."""
        return (
            self.status is SubscriptionStatus.ACTIVE
            and tenant == self.tenant
            and (not self.types or flat_type in self.types)
        )

    def disable(self, reason: DisableReason, origin: Origin) -> bool:
        """Deliver no more; returns whether this changed anything (disabling twice does not)."""
        if self.status is SubscriptionStatus.DISABLED:
            return False
        with self._acting(origin):
            self._disabled(reason)
        return True

    @event(Disabled)
    def _disabled(self, reason: str) -> None:
        self.status = SubscriptionStatus.DISABLED
        self.disabled_reason = reason
