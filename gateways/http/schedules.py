"""A workflow's schedule: read it with its next fire times, pause and resume it, backfill it."""

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, QueryParameter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aggregates.provenance import Origin
from aggregates.schedule import MAX_BACKFILL_TICKS, ScheduleSpec
from aggregates.workflow import Workflow
from engine.application import Ledgerflow
from gateways.http.openapi import problem_responses
from gateways.http.paths import WorkflowName
from gateways.http.run_views import MAX_REASON_LENGTH

DEFAULT_COUNT = 5
MAX_COUNT = 100


class ScheduleState(BaseModel):
    """A workflow's schedule (of its current version), whether it is paused, and when it fires."""

    model_config = ConfigDict(frozen=True)

    workflow: Annotated[str, Field(examples=["nightly-etl"])]
    version: Annotated[int, Field(description="The workflow version shown.", examples=[3])]
    schedule: ScheduleSpec
    paused: Annotated[bool, Field(description="A paused schedule fires no ticks.")]
    next_fire_times: Annotated[
        list[datetime],
        Field(
            description="The next ticks after now, in the schedule's time zone (ISO 8601 with "
            "its offset), jitter not included; listed even while paused.",
            examples=[["2026-05-05T02:30:00+02:00", "2026-05-06T02:30:00+02:00"]],
        ),
    ]

    @classmethod
    def of(cls, workflow: Workflow, now: datetime, count: int) -> "ScheduleState":
        schedule = workflow.schedule()
        zone = ZoneInfo(schedule.timezone)
        ticks: list[datetime] = []
        for tick in schedule.ticks_after(now):
            if len(ticks) == count:
                break
            ticks.append(tick.astimezone(zone))
        return cls(
            workflow=workflow.name,
            version=workflow.current_version,
            schedule=schedule,
            paused=workflow.schedule_paused,
            next_fire_times=ticks,
        )


class BackfillRequest(BaseModel):
    """A half-open range of ticks to run now: start <= tick < end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime
    end: AwareDatetime


class BackfillDone(BaseModel):
    """How many ticks of the range got a run now, and how many had one from an earlier backfill."""

    model_config = ConfigDict(frozen=True)

    created: Annotated[int, Field(examples=[24])]
    existing: Annotated[int, Field(examples=[0])]


_BACKFILL_EXAMPLES = [
    Example(
        summary="One day of ticks",
        value={"start": "2026-05-01T00:00:00+02:00", "end": "2026-05-02T00:00:00+02:00"},
    )
]
Count = Annotated[
    int,
    QueryParameter(
        ge=1,
        le=MAX_COUNT,
        description=f"How many next fire times to list (1-{MAX_COUNT}).",
        examples=[Example(summary="Ten", value=10)],
    ),
]
PauseReason = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        pattern=r"^[^\x00]*$",
        description="1-1024 characters without NUL (kept in its `SchedulePaused` event)",
        examples=[Example(summary="Why", value="warehouse maintenance")],
    ),
]


class ScheduleController(Controller):
    """A workflow's cron schedule; the schedule itself is part of the workflow definition."""

    path = "/v1/workflows/{name:str}"
    tags = ["workflows"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @get(
        "/schedule",
        sync_to_thread=True,
        summary="Read a workflow's schedule",
        description="The current version's `schedule`, whether it is paused, and its next "
        "`count` fire times in its time zone. 404 if the workflow has no schedule.",
        responses=problem_responses(404),
    )
    def schedule(
        self,
        *,
        name: WorkflowName,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        count: Count = DEFAULT_COUNT,
    ) -> ScheduleState:
        return ScheduleState.of(engine.get_workflow(tenant, name), engine.clock(), count)

    @post(
        "/schedule/pause",
        status_code=200,
        sync_to_thread=True,
        summary="Pause a workflow's schedule",
        description="Records `SchedulePaused`: no tick fires until it is resumed (a revision "
        "keeps it paused). Pausing a paused schedule changes nothing.",
        responses=problem_responses(404),
    )
    def pause(
        self,
        *,
        name: WorkflowName,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        reason: PauseReason = None,
    ) -> ScheduleState:
        engine.pause_schedule(tenant, name, reason, origin)
        return ScheduleState.of(engine.get_workflow(tenant, name), engine.clock(), DEFAULT_COUNT)

    @post(
        "/schedule/resume",
        status_code=200,
        sync_to_thread=True,
        summary="Resume a workflow's schedule",
        description="Records `ScheduleResumed`: ticks after now fire again; those due while it "
        "was paused do not (backfill them if needed). Resuming a running schedule changes "
        "nothing.",
        responses=problem_responses(404),
    )
    def resume(
        self,
        *,
        name: WorkflowName,
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
    ) -> ScheduleState:
        engine.resume_schedule(tenant, name, origin)
        return ScheduleState.of(engine.get_workflow(tenant, name), engine.clock(), DEFAULT_COUNT)

    @post(
        "/backfill",
        status_code=200,
        sync_to_thread=True,
        summary="Backfill a workflow's schedule",
        description="Starts one run (trigger `backfill`, carrying its tick) per tick of the "
        f"schedule in [start, end), at most {MAX_BACKFILL_TICKS} ticks; the schedule's own "
        "start, end and pause do not apply. Each run is keyed by its tick, so repeating a "
        "backfill creates nothing new (`existing`). A retired workflow is a 409.",
        responses=problem_responses(404, 409, 413, 415),
    )
    def backfill(
        self,
        *,
        name: WorkflowName,
        data: Annotated[BackfillRequest, Body(examples=_BACKFILL_EXAMPLES)],
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
    ) -> BackfillDone:
        created, existing = engine.backfill(tenant, name, data.start, data.end, origin)
        return BackfillDone(created=created, existing=existing)
