"""Liveness and readiness probes: the API is ready when PostgreSQL is reachable."""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

import anyio
from litestar import Controller, Response, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from pydantic import BaseModel, ConfigDict, Field

from gateways.http.problems import RETRY_AFTER_SECONDS

PROBE_TIMEOUT_SECONDS = 5.0

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    """What the composition root's probe found: each dependency up or not, and why."""

    database: bool
    nats: bool
    details: Mapping[str, str] = field(default_factory=dict)


ReadinessProbe = Callable[[], Awaitable[Readiness]]


class Liveness(BaseModel):
    status: Annotated[Literal["ok"], Field(examples=["ok"])] = "ok"


class ReadinessReport(BaseModel):
    """Ready when PostgreSQL is up; NATS is reported but not required (the log is the outbox)."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ready", "unavailable"]
    database: Literal["up", "down"]
    nats: Literal["up", "down"]
    details: Annotated[dict[str, str], Field(examples=[{"nats": "connection refused"}])]

    @classmethod
    def of(cls, readiness: Readiness) -> "ReadinessReport":
        return cls(
            status="ready" if readiness.database else "unavailable",
            database="up" if readiness.database else "down",
            nats="up" if readiness.nats else "down",
            details=dict(readiness.details),
        )


_NOT_READY = ResponseSpec(
    data_container=ReadinessReport,
    description="PostgreSQL cannot be reached; retry after `Retry-After` seconds.",
    examples=[
        Example(
            summary="Database down",
            value={"status": "unavailable", "database": "down", "nats": "up", "details": {}},
        )
    ],
    generate_examples=False,
)


class HealthController(Controller):
    """Probes for orchestrators; they never touch the engine's write path."""

    path = "/health"
    tags = ["health"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get("/live", summary="Liveness", description="200 while the process serves requests.")
    async def live(self) -> Liveness:
        return Liveness()

    @get(
        "/ready",
        summary="Readiness",
        description="200 when PostgreSQL is reachable, else 503 with `Retry-After`. "
        "NATS status is reported but does not decide: runs are accepted while it is down.",
        response_headers=[
            ResponseHeader(
                name="Retry-After", value="1", documentation_only=True, description="On 503."
            )
        ],
        responses={503: _NOT_READY},
    )
    async def ready(
        self, readiness_probe: NamedDependency[ReadinessProbe]
    ) -> Response[ReadinessReport]:
        readiness = await _probe(readiness_probe)
        report = ReadinessReport.of(readiness)
        if readiness.database:
            return Response(report)
        return Response(report, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _probe(readiness_probe: NamedDependency[ReadinessProbe]) -> Readiness:
    """The probe's answer; one that fails or hangs counts as nothing reachable."""
    try:
        with anyio.fail_after(PROBE_TIMEOUT_SECONDS):
            return await readiness_probe()
    except Exception as error:  # a probe that breaks must not break the probe endpoint
        _log.warning("readiness probe failed: %r", error)
        return Readiness(database=False, nats=False, details={"probe": "failed"})
