"""Read models: how far each one is behind the event log (the lag of the lists the API serves)."""

from collections.abc import Callable, Sequence
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from pydantic import BaseModel, ConfigDict, Field

from gateways.http.openapi import problem_responses
from projections.status import ProjectionStatus

ProjectionStatuses = Callable[[], Sequence[ProjectionStatus]]
"""Reads every read model's position and lag from the store."""


class ProjectionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: Annotated[str, Field(examples=["runs"])]
    version: Annotated[int, Field(description="The version the running code builds.", examples=[2])]
    built_version: Annotated[
        int | None,
        Field(
            description="The version that built the tables (null: not built yet). It differs "
            "from `version` until the engine has rebuilt the read model.",
            examples=[2],
        ),
    ]
    position: Annotated[
        int, Field(description="The last log position the read model applied.", examples=[1200])
    ]
    head: Annotated[int, Field(description="The log's last position.", examples=[1204])]
    lag_events: Annotated[int, Field(description="`head` - `position`.", examples=[4])]
    lag_seconds: Annotated[
        float,
        Field(
            description="How long ago the oldest event not yet applied was recorded (0 when "
            "caught up).",
            examples=[0.012],
        ),
    ]
    following: Annotated[
        bool,
        Field(description="Whether an engine process is applying the log to it.", examples=[True]),
    ]

    @classmethod
    def of(cls, status: ProjectionStatus) -> "ProjectionView":
        return cls(
            name=status.name,
            version=status.version,
            built_version=status.built_version,
            position=status.position,
            head=status.head,
            lag_events=status.lag_events,
            lag_seconds=round(status.lag_seconds, 3),
            following=status.following,
        )


class ProjectionPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[ProjectionView]
    next_cursor: Annotated[str | None, Field(description="Always null: the list is complete.")] = (
        None
    )


class ProjectionController(Controller):
    """Each read model's position and lag behind the event log."""

    path = "/v1/projections"
    tags = ["projections"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/",
        sync_to_thread=True,
        summary="List read models and their lag",
        description="Every projection of the event log that serves the API's lists (runs, "
        "attempts, workers, statistics): the version built, the position applied, the log's "
        "head and the lag in events and seconds. Lists lag single-run reads (which come from "
        "the event log itself) by this much.",
        responses=problem_responses(),
    )
    def list_projections(
        self, *, projection_statuses: NamedDependency[ProjectionStatuses]
    ) -> ProjectionPage:
        return ProjectionPage(items=[ProjectionView.of(s) for s in projection_statuses()])
