"""What the API answers about workflows: a definition at a version, and the receipt of a change."""

from datetime import datetime
from typing import Annotated

from litestar.openapi.spec import Example
from pydantic import BaseModel, ConfigDict, Field

from aggregates.retry import RetryPolicy
from aggregates.schedule import ScheduleSpec
from aggregates.spec import TaskSpec, WorkflowSpec
from aggregates.trigger import TriggerSpec
from aggregates.workflow import Workflow
from engine.application import Applied

SPEC_EXAMPLES = [
    Example(
        summary="Extract, then transform, then load",
        value={
            "name": "nightly-etl",
            "description": "Copy yesterday's orders into the warehouse.",
            "tasks": [
                {"name": "extract", "command": "python -m etl.extract", "queue": "io"},
                {
                    "name": "transform",
                    "command": "python -m etl.transform",
                    "depends_on": ["extract"],
                },
                {
                    "name": "load",
                    "command": "python -m etl.load",
                    "depends_on": ["transform"],
                    "timeout_seconds": 600,
                },
            ],
        },
    ),
    Example(
        summary="A nightly job on a cron schedule, in Berlin time",
        value={
            "name": "nightly-report",
            "tasks": [{"name": "report", "command": "python -m reports.nightly"}],
            "schedule": {
                "cron": "30 2 * * *",
                "timezone": "Europe/Berlin",
                "jitter_seconds": 30,
                "misfire": "fire_once",
                "overlap": "skip",
            },
        },
    ),
    Example(
        summary="A workflow started by paid orders (a trigger)",
        value={
            "name": "fulfil-order",
            "tasks": [{"name": "ship", "command": "python -m shop.ship"}],
            "triggers": [
                {
                    "subject": "orders.created",
                    "type": "orders.created",
                    "filter": {"data.status": "paid"},
                }
            ],
        },
    ),
    Example(
        summary="A single no-op task",
        value={"name": "hello", "tasks": [{"name": "noop", "executor": "noop"}]},
    ),
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class WorkflowDefinition(_View):
    """A workflow's definition at one version, and which version is current."""

    name: Annotated[str, Field(examples=["nightly-etl"])]
    version: Annotated[int, Field(description="The version shown.", examples=[2])]
    current_version: Annotated[int, Field(description="The latest version.", examples=[2])]
    description: Annotated[str, Field(examples=["Copy yesterday's orders into the warehouse."])]
    tasks: list[TaskSpec]
    retry: Annotated[RetryPolicy, Field(description="The default retry policy of its tasks.")]
    schedule: Annotated[
        ScheduleSpec | None,
        Field(description="When it runs by itself (cron); null if it only runs when started."),
    ] = None
    triggers: Annotated[
        list[TriggerSpec],
        Field(description="The subjects whose matching messages start runs (none: empty)."),
    ] = []
    created_at: Annotated[datetime, Field(description="When version 1 was registered.")]
    updated_at: Annotated[datetime, Field(description="When the latest version was recorded.")]
    retired: Annotated[
        bool,
        Field(
            description="Retired workflows start no runs; `PUT` the definition to restore one.",
            examples=[False],
        ),
    ]
    retired_at: Annotated[
        datetime | None, Field(description="When it was retired; null unless `retired`.")
    ]
    retired_reason: Annotated[
        str | None,
        Field(description="Why it was retired, if a reason was given.", examples=[None]),
    ]

    @classmethod
    def of(cls, workflow: Workflow, version: int | None) -> "WorkflowDefinition":
        spec: WorkflowSpec = workflow.spec(version)
        return cls(
            name=workflow.name,
            version=workflow.current_version if version is None else version,
            current_version=workflow.current_version,
            description=spec.description,
            tasks=list(spec.tasks),
            retry=spec.retry,
            schedule=spec.schedule,
            triggers=list(spec.triggers),
            created_at=workflow.created_on,
            updated_at=workflow.version_recorded_at,
            retired=workflow.is_retired,
            retired_at=workflow.retired_at,
            retired_reason=workflow.retired_reason,
        )


class WorkflowApplied(_View):
    """What registering or applying a definition did, and the version that is now current."""

    name: Annotated[str, Field(examples=["nightly-etl"])]
    version: Annotated[int, Field(description="The current version.", examples=[1])]
    applied: Annotated[
        Applied,
        Field(
            description="`created`, `revised` (a new version; also when a retired workflow "
            "is restored) or `unchanged` (a no-op)."
        ),
    ]
    created_at: Annotated[datetime, Field(description="When version 1 was registered.")]
    updated_at: Annotated[datetime, Field(description="When the latest version was recorded.")]

    @classmethod
    def of(cls, workflow: Workflow, applied: Applied) -> "WorkflowApplied":
        return cls(
            name=workflow.name,
            version=workflow.current_version,
            applied=applied,
            created_at=workflow.created_on,
            updated_at=workflow.version_recorded_at,
        )
