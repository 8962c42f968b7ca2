"""Identifiers that travel in NATS subjects and URLs, and the ids derived from them."""

import re
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid5

from pydantic import StringConstraints

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
"""1-64 characters of [A-Za-z0-9_-], starting with a letter or digit."""

DEFAULT_TENANT = "default"
"""The tenant every request belongs to until authentication lands."""

SYSTEM_TENANT = "system"
"""The tenant of shared infrastructure (workers), which serves every tenant."""

_NAMESPACE = UUID("6f1d7c2e-3b0a-4f5e-9a51-1e0c6b8d2a47")


def is_identifier(value: str) -> bool:
    """Whether `value` is a valid workflow, task, queue, tenant or worker name."""
    return _IDENTIFIER.fullmatch(value) is not None


def workflow_id(tenant: str, name: str) -> UUID:
    """The one id a workflow name has within a tenant, so a second registration collides."""
    return uuid5(_NAMESPACE, f"workflow\x1f{tenant}\x1f{name}")


def idempotent_run_id(tenant: str, key: str) -> UUID:
    """The run id an `Idempotency-Key` maps to within a tenant."""
    return uuid5(_NAMESPACE, f"run\x1f{tenant}\x1f{key}")


def schedule_tick_id(tenant: str, workflow: str, tick: datetime, *, backfill: bool = False) -> UUID:
    """The one id a cron tick of a workflow has (its UTC instant), so a second fire collides.

    Backfilled ticks have ids of their own: a backfill never collides with the schedule.
    """
    kind = "backfill" if backfill else "tick"
    instant = tick.astimezone(UTC).isoformat()
    return uuid5(_NAMESPACE, f"{kind}\x1f{tenant}\x1f{workflow}\x1f{instant}")


def scheduled_run_id(tick_id: UUID) -> UUID:
    """The id of the run a tick starts, derived from the tick so it is started once."""
    return uuid5(tick_id, "run")


def trigger_index_id(tenant: str, subject: str) -> UUID:
    """The one index of the workflows that declared a trigger on a tenant's subject name."""
    return uuid5(_NAMESPACE, f"triggers\x1f{tenant}\x1f{subject}")


def triggered_run_id(tenant: str, workflow: str, message_id: str) -> UUID:
    """The run a message starts of a workflow, so a redelivered copy starts nothing new."""
    return uuid5(_NAMESPACE, f"triggered\x1f{tenant}\x1f{workflow}\x1f{message_id}")
