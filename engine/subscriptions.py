"""The webhook subscription use cases: register, read and disable a tenant's subscriptions."""

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from aggregates.errors import SubscriptionNotFoundError
from aggregates.provenance import Origin
from aggregates.subscription import DeliveryMode, DisableReason, Subscription

_SAVE_ATTEMPTS = 5


class Subscriptions(Application[UUID]):
    """The Ledgerflow Application's subscription use cases (a mixin of `Ledgerflow`)."""

    clock: Callable[[], datetime]

    def register_subscription(
        self,
        subscription_id: UUID,
        tenant: str,
        *,
        url: str,
        types: list[str],
        mode: DeliveryMode,
        origin: Origin,
    ) -> Subscription:
        subscription = Subscription.register(
            subscription_id=subscription_id,
            tenant=tenant,
            url=url,
            types=types,
            mode=mode,
            origin=origin,
        )
        self.save(subscription)
        return subscription

    def get_subscription(self, tenant: str, subscription_id: UUID) -> Subscription:
        subscription = self.load_subscription(subscription_id)
        # Another tenant's subscription does not exist for this tenant (404, never 403).
        if subscription is None or subscription.tenant != tenant:
            raise SubscriptionNotFoundError(subscription_id)
        return subscription

    def load_subscription(self, subscription_id: UUID) -> Subscription | None:
        """Any tenant's subscription, for the delivery worker; requests use `get_subscription`."""
        try:
            found: object = self.repository.get(subscription_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Subscription) else None

    def disable_subscription(
        self, subscription_id: UUID, reason: DisableReason, origin: Origin, tenant: str | None
    ) -> tuple[Subscription, bool]:
        """Disable it (`tenant` None: any tenant's, for the delivery worker); returns
        (subscription, disabled now)."""
        for _ in range(_SAVE_ATTEMPTS):
            subscription = (
                self.load_subscription(subscription_id)
                if tenant is None
                else self.get_subscription(tenant, subscription_id)
            )
            if subscription is None:
                raise SubscriptionNotFoundError(subscription_id)
            if not subscription.disable(reason, origin):
                return subscription, False
            try:
                self.save(subscription)
            except IntegrityError:
                continue
            return subscription, True
        msg = f"subscription {subscription_id} kept changing while it was being disabled"
        raise RuntimeError(msg)
