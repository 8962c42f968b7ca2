"""The webhook delivery worker: follows the log, POSTs each matching event signed, with retries."""

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any, cast
from uuid import UUID

import httpx
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder

from aggregates.subscription import Subscription
from engine.application import Ledgerflow
from engine.event_feed import EVENT_TOPICS, EventFeed, FeedItem
from engine.history import PositionedEventLog
from gateways.webhooks.addresses import AddressPolicy, RefusedURLError
from gateways.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from gateways.webhooks.store import DeliveryAttempt, WebhookStore
from projections.follower import STANDBY_POLL_SECONDS, TrackedFollower

logger = logging.getLogger(__name__)

DELIVERY_NAME = "webhook-delivery"
LINGER_SECONDS = 0.05
"""How long a batch of the log waits for more events: every batch commits the position, even
when nothing is subscribed, and 50 ms matter little to a webhook."""
DELIVERY_ACTOR = "engine:webhooks"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
_ERROR_CHARS = 500
_SUBSCRIPTION_TOPICS = frozenset(
    topic for name, topic in EVENT_TOPICS.items() if name.startswith("Subscription")
)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try: attempts per event (backoff doubling from `backoff_seconds`), and how
    many events in a row may fail before the subscription is disabled (reason `failing`)."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    failures_to_disable: int = 5
    timeout_seconds: float = 10.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))


@dataclass
class _Target:
    subscription: Subscription
    since: int
    """The log position of its registration: it receives only the events after it."""
    failures: int = 0
    """Events in a row that failed every attempt (read back from the delivery log on start,
    so a restart does not forgive a failing endpoint)."""


class _HaltedError(Exception):
    """Stopping in the middle of a batch: its position is not recorded, it is redelivered."""


class WebhookDeliverer:
    """POSTs every event of the log, in log order, to each active subscription that wants it.

    Single-active behind an advisory lock, tracking its position in its own table after a
    whole batch was delivered (or given up on): at-least-once, receivers de-duplicate by the
    CloudEvent `id`. Each URL is checked again (DNS rebinding) before every attempt.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        store: WebhookStore,
        tracking: PostgresTrackingRecorder,
        *,
        addresses: AddressPolicy,
        policy: DeliveryPolicy | None = None,
        batch_size: int = 100,
        standby_poll_seconds: float = STANDBY_POLL_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._store = store
        self._tracking = tracking
        self._addresses = addresses
        self._policy = policy or DeliveryPolicy()
        self._now = now
        self._feed = EventFeed(engine)
        self._targets: dict[UUID, _Target] | None = None
        self._http: httpx.Client | None = None
        self._halt = threading.Event()
        self.outcomes: Counter[str] = Counter()
        """Events by outcome: `delivered`, `failed`, `disabled` (subscriptions given up on)."""
        self._follower = TrackedFollower(
            DELIVERY_NAME,
            log=engine.recorder,
            decode=self._item,
            topics=EVENT_TOPICS.values(),
            apply_batch=self._apply_batch,
            tracked_position=self.tracked_position,
            datastore=tracking.datastore,
            application_name=engine.name,
            batch_size=batch_size,
            standby_poll_seconds=standby_poll_seconds,
            linger_seconds=LINGER_SECONDS,
        )

    @property
    def position(self) -> int:
        return self._follower.position

    def tracked_position(self) -> int:
        self._targets = None  # (re)load the subscriptions when (re)starting from the table
        return self._tracking.max_tracking_id(self._engine.name) or 0

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver (or stand by for another replica) until `stop` is set."""
        self._halt.clear()

        async def halt_on_stop() -> None:
            await stop.wait()
            self._halt.set()

        halting = asyncio.create_task(halt_on_stop())
        try:
            await self._follower.run(stop)
        finally:
            halting.cancel()
            if self._http is not None:  # the follower's thread, its only user, has ended
                self._http.close()
                self._http = None

    def _item(self, notification: Notification) -> FeedItem | Notification:
        if self._targets == {} and notification.topic not in _SUBSCRIPTION_TOPICS:
            # Nothing subscribed (yet: the batch may register one): building every event's
            # CloudEvent was most of this follower's work.
            return notification
        return self._feed.item(notification)

    def _apply_batch(self, items: Sequence[object], tracking: Tracking, previous: int) -> bool:
        """In the follower's thread: deliver the batch, then record its position."""
        try:
            for item in cast(Sequence[FeedItem | Notification], items):
                if isinstance(item, FeedItem):
                    self._route(item)
                elif self._loaded():
                    self._route(self._feed.item(item))
        except _HaltedError:
            return False
        self._tracking.insert_tracking(tracking)
        return True

    def _client(self) -> httpx.Client:
        """One client for the follower's thread, made at the first delivery: building one
        loads the CA certificates (milliseconds of CPU), which every batch of the log paid."""
        if self._http is None:
            self._http = httpx.Client(timeout=self._policy.timeout_seconds, follow_redirects=False)
        return self._http

    def _route(self, item: FeedItem) -> None:
        targets = self._loaded()
        if item.type.startswith("Subscription"):
            self._refresh(targets, UUID(str(item.cloud_event["subject"])), item.position)
        tenant = str(item.cloud_event["tenant"])
        for target in list(targets.values()):
            if item.position > target.since and target.subscription.wants(tenant, item.type):
                self._deliver(self._client(), item, target)

    def _loaded(self) -> dict[UUID, _Target]:
        if self._targets is None:
            targets: dict[UUID, _Target] = {}
            for subscription_id in self._store.ids_of(None):
                self._refresh(targets, subscription_id, self._registered_at(subscription_id))
            self._targets = targets
        return self._targets

    def _refresh(self, targets: dict[UUID, _Target], subscription_id: UUID, since: int) -> None:
        subscription = self._engine.load_subscription(subscription_id)
        if subscription is None:
            return
        known = targets.get(subscription_id)
        if known is None:
            failures = self._failures_in_a_row(subscription_id)
            targets[subscription_id] = _Target(subscription, since, failures)
        else:
            known.subscription = subscription

    def _failures_in_a_row(self, subscription_id: UUID) -> int:
        """How many of the subscription's latest events failed every attempt, newest first,
        up to the last one delivered (an event whose retries a stop cut short counts as
        neither: it is delivered again from the log)."""
        policy = self._policy
        attempts = self._store.attempts(
            subscription_id, policy.max_attempts * policy.failures_to_disable
        )
        failed = 0
        for _, tries in groupby(attempts, key=lambda attempt: attempt.position):
            last = next(tries)  # newest first: the event's last attempt
            if last.succeeded:
                break
            if last.attempt >= policy.max_attempts:
                failed += 1
        return failed

    def _registered_at(self, subscription_id: UUID) -> int:
        log = self._engine.recorder
        if not isinstance(log, PositionedEventLog):
            return 0
        rows = log.select_positioned_events(subscription_id, after_version=0, limit=1)
        return int(rows[0][0]) if rows else 0

    def _deliver(self, http: httpx.Client, item: FeedItem, target: _Target) -> None:
        subscription = target.subscription
        for attempt in range(1, self._policy.max_attempts + 1):
            if self._halt.is_set():
                raise _HaltedError
            status, error = self._post(http, item, subscription)
            self._store.record(
                DeliveryAttempt(
                    subscription_id=subscription.id,
                    position=item.position,
                    event_id=str(item.cloud_event["id"]),
                    attempt=attempt,
                    at=datetime.now(UTC),
                    status_code=status,
                    error=error,
                )
            )
            if error is None:
                target.failures = 0
                self.outcomes["delivered"] += 1
                return
            if attempt < self._policy.max_attempts:
                self._halt.wait(self._policy.backoff(attempt))
        self.outcomes["failed"] += 1
        target.failures += 1
        if target.failures >= self._policy.failures_to_disable:
            self._give_up(target)

    def _give_up(self, target: _Target) -> None:
        origin = self._engine.origin(DELIVERY_ACTOR)
        subscription, disabled = self._engine.disable_subscription(
            target.subscription.id, "failing", origin, tenant=None
        )
        target.subscription = subscription
        if disabled:
            self.outcomes["disabled"] += 1
            logger.warning(
                "webhook subscription %s disabled after %d failed deliveries in a row",
                subscription.id,
                target.failures,
            )

    def _post(
        self, http: httpx.Client, item: FeedItem, subscription: Subscription
    ) -> tuple[int | None, str | None]:
        """One attempt: (status code, error); error None means delivered (a 2xx)."""
        secret = self._store.secret_of(subscription.id)
        if secret is None:
            return None, "the subscription has no secret"
        try:
            destination = self._addresses.check(subscription.url)
        except RefusedURLError as error:
            return None, f"refused: {error}"[:_ERROR_CHARS]
        body, headers = encoded(item.cloud_event, subscription.mode)
        timestamp = int(self._now())
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
        try:
            response = http.post(
                destination.url,
                content=body,
                headers={**headers, "Host": destination.host_header},
                extensions={"sni_hostname": destination.server_name},
            )
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:_ERROR_CHARS]
        if not response.is_success:
            return response.status_code, f"HTTP {response.status_code}"
        return response.status_code, None


def encoded(envelope: dict[str, Any], mode: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a CloudEvent in HTTP structured or binary content mode."""
    if mode == "structured":
        return _json(envelope), {"Content-Type": STRUCTURED_CONTENT_TYPE}
    headers = {
        f"ce-{name}": _attribute(value)
        for name, value in envelope.items()
        if name not in ("data", "datacontenttype")
    }
    headers["Content-Type"] = str(envelope.get("datacontenttype", "application/json"))
    return _json(envelope.get("data")), headers


def _attribute(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
