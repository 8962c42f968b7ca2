"""Retry policies: how many attempts a task gets, which failures retry, and the backoff."""

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from aggregates.numbers import IntegerOnly, NumberOnly

FailureKind = Literal["failed", "timed_out", "worker_lost"]
"""What can end an attempt unsuccessfully: non-zero exit or error, its timeout, its worker."""

MAX_ATTEMPTS = 100
MAX_DELAY_SECONDS = 7 * 24 * 3600


def _boolean_only(value: object) -> object:
    # Lax mode (which web frameworks ask for, overriding `StrictBool`) takes 0, 1 and "yes".
    if not isinstance(value, bool):
        msg = "must be true or false"
        raise ValueError(msg)
    return value


BooleanOnly = BeforeValidator(_boolean_only)


class RetryPolicy(BaseModel):
    """Attempts and backoff; `delay` is a pure function given a jitter sample in [0, 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: Annotated[int, IntegerOnly, Field(ge=1, le=MAX_ATTEMPTS)] = 1
    backoff: Literal["fixed", "exponential"] = "exponential"
    initial_seconds: Annotated[
        float, NumberOnly, Field(ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)
    ] = 1.0
    factor: Annotated[float, NumberOnly, Field(ge=1, le=10, allow_inf_nan=False)] = 2.0
    max_delay_seconds: Annotated[
        float, NumberOnly, Field(ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)
    ] = 300.0
    jitter: Annotated[bool, BooleanOnly] = True
    retry_on: Annotated[list[FailureKind], Field(max_length=3)] = [
        "failed",
        "timed_out",
        "worker_lost",
    ]

    def retries(self, kind: FailureKind, attempt: int) -> bool:
        """Whether a `kind` failure of attempt number `attempt` earns another attempt."""
        return kind in self.retry_on and attempt < self.max_attempts

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds to wait before the attempt after `attempt` (full jitter: uniform in [0, d])."""
        if self.backoff == "fixed":
            ceiling = self.initial_seconds
        else:
            ceiling = self.initial_seconds * self.factor ** min(attempt - 1, 64)
        ceiling = min(ceiling, self.max_delay_seconds)
        return ceiling * jitter if self.jitter else ceiling
