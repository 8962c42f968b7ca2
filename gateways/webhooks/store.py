"""The webhook store: each subscription's secret and its delivery log (not events; ADR 0017)."""

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

DELIVERY_LOG_KEPT = 100
"""Attempts kept per subscription; older ones are deleted as new ones are recorded."""


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event to one subscription's endpoint."""

    subscription_id: UUID
    position: int
    event_id: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None


@runtime_checkable  # Litestar checks a dependency's type against its annotation
class WebhookStore(Protocol):
    """Secrets (written before the subscription's event, so a delivery always finds one) and
    the delivery log the delivery worker writes and `GET /v1/subscriptions/{id}` reads."""

    def add(self, subscription_id: UUID, tenant: str, secret: str) -> None: ...

    def secret_of(self, subscription_id: UUID) -> str | None: ...

    def ids_of(self, tenant: str | None) -> list[UUID]:
        """The tenant's subscriptions (None: every tenant's), oldest first."""
        ...

    def record(self, attempt: DeliveryAttempt) -> None: ...

    def attempts(self, subscription_id: UUID, limit: int) -> list[DeliveryAttempt]:
        """The last `limit` attempts, newest first."""
        ...


class MemoryWebhookStore:
    """The webhook store in memory (tests, and the API on the in-memory event store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[UUID, tuple[str, str]] = {}
        self._log: defaultdict[UUID, list[DeliveryAttempt]] = defaultdict(list)

    def add(self, subscription_id: UUID, tenant: str, secret: str) -> None:
        with self._lock:
            self._secrets[subscription_id] = (tenant, secret)

    def secret_of(self, subscription_id: UUID) -> str | None:
        found = self._secrets.get(subscription_id)
        return None if found is None else found[1]

    def ids_of(self, tenant: str | None) -> list[UUID]:
        with self._lock:
            return [i for i, (t, _) in self._secrets.items() if tenant is None or t == tenant]

    def record(self, attempt: DeliveryAttempt) -> None:
        with self._lock:
            log = self._log[attempt.subscription_id]
            log.append(attempt)
            del log[:-DELIVERY_LOG_KEPT]

    def attempts(self, subscription_id: UUID, limit: int) -> list[DeliveryAttempt]:
        with self._lock:
            return list(reversed(self._log[subscription_id][-limit:]))


_TABLES = (
    """CREATE TABLE IF NOT EXISTS {schema}.webhook_secrets (
        subscription_id uuid PRIMARY KEY,
        tenant text NOT NULL,
        secret text NOT NULL,
        added_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS {schema}.webhook_deliveries (
        id bigserial PRIMARY KEY,
        subscription_id uuid NOT NULL,
        position bigint NOT NULL,
        event_id text NOT NULL,
        attempt integer NOT NULL,
        at timestamptz NOT NULL,
        status_code integer,
        error text
    )""",
    """CREATE INDEX IF NOT EXISTS webhook_deliveries_by_subscription
        ON {schema}.webhook_deliveries (subscription_id, id)""",
)


class PostgresWebhookStore:
    """The webhook store in the engine's schema and connection pool."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        self._schema = Identifier(datastore.schema or "public")

    def create_tables(self) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            for statement in _TABLES:
                cursor.execute(SQL(statement).format(schema=self._schema))

    def add(self, subscription_id: UUID, tenant: str, secret: str) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "INSERT INTO {}.webhook_secrets (subscription_id, tenant, secret) "
                    "VALUES (%s, %s, %s)"
                ).format(self._schema),
                (subscription_id, tenant, secret),
            )

    def secret_of(self, subscription_id: UUID) -> str | None:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL("SELECT secret FROM {}.webhook_secrets WHERE subscription_id = %s").format(
                    self._schema
                ),
                (subscription_id,),
            )
            row = cursor.fetchone()
        return None if row is None else str(row["secret"])

    def ids_of(self, tenant: str | None) -> list[UUID]:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL(
                    "SELECT subscription_id FROM {}.webhook_secrets "
                    "WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s "
                    "ORDER BY added_at, subscription_id"
                ).format(self._schema),
                {"tenant": tenant},
            )
            return [row["subscription_id"] for row in cursor.fetchall()]

    def record(self, attempt: DeliveryAttempt) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "INSERT INTO {}.webhook_deliveries (subscription_id, position, event_id, "
                    "attempt, at, status_code, error) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                ).format(self._schema),
                (
                    attempt.subscription_id,
                    attempt.position,
                    attempt.event_id,
                    attempt.attempt,
                    attempt.at,
                    attempt.status_code,
                    attempt.error,
                ),
            )
            cursor.execute(
                SQL(
                    "DELETE FROM {schema}.webhook_deliveries WHERE subscription_id = %(id)s "
                    "AND id <= (SELECT id FROM {schema}.webhook_deliveries "
                    "WHERE subscription_id = %(id)s ORDER BY id DESC OFFSET %(kept)s LIMIT 1)"
                ).format(schema=self._schema),
                {"id": attempt.subscription_id, "kept": DELIVERY_LOG_KEPT},
            )

    def attempts(self, subscription_id: UUID, limit: int) -> list[DeliveryAttempt]:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL(
                    "SELECT subscription_id, position, event_id, attempt, at, status_code, error "
                    "FROM {}.webhook_deliveries WHERE subscription_id = %s "
                    "ORDER BY id DESC LIMIT %s"
                ).format(self._schema),
                (subscription_id, limit),
            )
            return [DeliveryAttempt(**row) for row in cursor.fetchall()]
