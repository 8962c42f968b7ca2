"""How the API shows a run's timeline: its steps in words, and each task's waiting and running."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from engine.timeline import TaskTimes, Timeline, TimelineStep


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class StepView(_View):
    """One event of the run, told in words."""

    version: Annotated[int, Field(description="The run's version after this event.")]
    position: Annotated[int, Field(description="The event's position in the global log.")]
    at: datetime
    type: Annotated[str, Field(examples=["TaskSkipped"])]
    task: Annotated[str | None, Field(examples=["load"])]
    actor: Annotated[str, Field(examples=["worker:w1"])]
    text: Annotated[str, Field(examples=["load skipped because transform failed after 3 attempts"])]
    since_previous_ms: Annotated[int, Field(description="Milliseconds since the step before.")]
    since_start_ms: Annotated[int, Field(description="Milliseconds since the run started.")]

    @classmethod
    def of(cls, step: TimelineStep) -> "StepView":
        return cls(
            version=step.version,
            position=step.position,
            at=step.at,
            type=step.type,
            task=step.task,
            actor=step.actor,
            text=step.text,
            since_previous_ms=step.since_previous_ms,
            since_start_ms=step.since_start_ms,
        )


class TaskTimesView(_View):
    """Where one task's time went, over all its attempts."""

    task: Annotated[str, Field(examples=["extract"])]
    attempts: Annotated[int, Field(examples=[2])]
    status: Annotated[str, Field(description="Its state after the last step.", examples=["failed"])]
    waiting_ms: Annotated[
        int, Field(description="Time queued or backing off before a retry (finished intervals).")
    ]
    running_ms: Annotated[int, Field(description="Time on a worker (finished attempts).")]

    @classmethod
    def of(cls, times: TaskTimes) -> "TaskTimesView":
        return cls(
            task=times.task,
            attempts=times.attempts,
            status=times.status,
            waiting_ms=times.waiting_ms,
            running_ms=times.running_ms,
        )


class TimelineView(_View):
    """A run's whole history in words (never paged: `next_cursor` is always null)."""

    items: list[StepView]
    tasks: Annotated[list[TaskTimesView], Field(description="Tasks in the order they first acted.")]
    next_cursor: Annotated[None, Field(examples=[None])] = None

    @classmethod
    def of(cls, timeline: Timeline) -> "TimelineView":
        return cls(
            items=[StepView.of(step) for step in timeline.steps],
            tasks=[TaskTimesView.of(times) for times in timeline.tasks],
        )
