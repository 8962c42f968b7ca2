"""Workers: every worker process the engine has heard from, and its liveness."""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from pydantic import BaseModel, ConfigDict, Field

from gateways.http.openapi import problem_responses
from projections.attempts_view import WorkerRow

WorkerDirectory = Callable[[], Sequence[WorkerRow]]
"""Lists the workers read model (eventually consistent with the log)."""


class WorkerView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: Annotated[str, Field(examples=["worker-1"])]
    instance: Annotated[str, Field(description="Identifies one start of the worker process.")]
    status: Annotated[
        str,
        Field(examples=["registered"], description="registered | draining | lost | deregistered"),
    ]
    queues: Annotated[list[str], Field(examples=[["default"]])]
    capacity: Annotated[int, Field(description="Tasks the worker runs at once.", examples=[4])]
    host: str
    version: Annotated[str, Field(description="The worker's Ledgerflow version.")]
    registered_at: datetime
    last_change_at: datetime

    @classmethod
    def of(cls, row: WorkerRow) -> "WorkerView":
        return cls(
            name=row.name,
            instance=row.instance,
            status=row.status,
            queues=list(row.queues),
            capacity=row.capacity,
            host=row.host,
            version=row.version,
            registered_at=row.registered_at,
            last_change_at=row.last_change_at,
        )


class WorkerPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[WorkerView]
    next_cursor: Annotated[str | None, Field(description="Always null: the list is complete.")] = (
        None
    )


class WorkerController(Controller):
    """The worker registry, from the workers read model."""

    path = "/v1/workers"
    tags = ["workers"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        sync_to_thread=True,
        summary="List workers",
        description="Every worker process registered by its heartbeats, with its queues, "
        "capacity and liveness (`lost` after three missed heartbeats). Read from a projection "
        "of the event log, so it may lag the log by a moment.",
        responses=problem_responses(),
    )
    def list_workers(self, *, worker_directory: NamedDependency[WorkerDirectory]) -> WorkerPage:
        return WorkerPage(items=[WorkerView.of(row) for row in worker_directory()])
