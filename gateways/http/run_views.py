"""What the API takes to start or cancel a run (ad-hoc runs too), and how it shows runs."""

import json
from datetime import datetime
from typing import Annotated, Any

from litestar.openapi.spec import Example
from litestar.params import QueryParameter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aggregates.run import ForkLink, Run, RunStatus
from aggregates.spec import WorkflowSpec, refuse_unstorable
from aggregates.task_state import TaskState, TaskStatus
from gateways.http.paths import run_events_path, run_path

MAX_INPUTS_BYTES = 256 * 1024
MAX_REASON_LENGTH = 1024
DEFAULT_CANCEL_REASON = "cancelled through the API"

AsOfVersion = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        description="Show the run as it stood after its N-th event (1 is `RunStarted`).",
        examples=[Example(summary="After its third event", value=3)],
    ),
]

FromVersion = Annotated[
    int,
    QueryParameter(
        ge=1,
        description="Start from the run's state after its N-th event (1 is `RunStarted`; at "
        "most the run's latest version).",
        examples=[Example(summary="After its fifth event", value=5)],
    ),
]

START_EXAMPLES = [
    Example(summary="With inputs", value={"inputs": {"date": "2024-05-01", "dry_run": False}}),
    Example(summary="Without inputs", value={}),
]
CANCEL_EXAMPLES = [Example(summary="With a reason", value={"reason": "wrong date"})]
ADHOC_EXAMPLES = [
    Example(
        summary="A one-off backfill, with inputs",
        value={
            "workflow": {
                "name": "backfill-orders",
                "tasks": [
                    {"name": "extract", "command": "python -m etl.extract"},
                    {"name": "load", "command": "python -m etl.load", "depends_on": ["extract"]},
                ],
            },
            "inputs": {"date": "2024-05-01"},
        },
    ),
    Example(
        summary="A single no-op task",
        value={"workflow": {"name": "smoke", "tasks": [{"name": "noop", "executor": "noop"}]}},
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartRunRequest(_Request):
    """What to start a run with: its inputs, any JSON object up to 256 KiB."""

    inputs: Annotated[
        dict[str, Any],
        Field(
            default_factory=dict,
            description="Any JSON object (at most 256 KiB serialized); no NUL characters "
            "or lone surrogates in keys or strings.",
            examples=[{"date": "2024-05-01"}],
        ),
    ]

    @field_validator("inputs")
    @classmethod
    def _inputs_are_storable(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        _refuse_unstorable_json(inputs)
        size = len(json.dumps(inputs, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_INPUTS_BYTES:
            msg = f"inputs take {size} bytes as JSON; the limit is {MAX_INPUTS_BYTES}"
            raise ValueError(msg)
        return inputs


class StartAdhocRunRequest(StartRunRequest):
    """A definition to run once without registering it, and the run's inputs."""

    workflow: Annotated[
        WorkflowSpec,
        Field(
            description="A workflow definition, as `POST /v1/workflows` takes it; it is "
            "pinned in the run (version 0) and registers nothing."
        ),
    ]


class CancelRunRequest(_Request):
    """Why the run is cancelled."""

    reason: Annotated[
        str,
        Field(min_length=1, max_length=MAX_REASON_LENGTH, examples=["wrong date"]),
    ] = DEFAULT_CANCEL_REASON

    @field_validator("reason")
    @classmethod
    def _reason_is_storable(cls, reason: str) -> str:
        _refuse_unstorable_text(reason, "reason")
        return reason


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class TaskView(_View):
    """One task of a run: its current attempt and what that attempt produced."""

    name: Annotated[str, Field(examples=["extract"])]
    status: TaskStatus
    attempt: Annotated[int, Field(description="0 until the task is first queued.")]
    queue: Annotated[str, Field(examples=["default"])]
    worker: Annotated[str | None, Field(examples=["worker-1"])]
    exit_code: int | None
    error: str | None
    reason: Annotated[str | None, Field(description="Why the task was skipped.")]
    cause: Annotated[
        str | None,
        Field(
            description="What ended an unsuccessful attempt: exit, error, timed_out, "
            "worker_lost or undeliverable."
        ),
    ]
    retry_at: Annotated[datetime | None, Field(description="When the next attempt is due.")]
    reused_from: Annotated[
        str | None, Field(description="The run whose successful result this task reuses.")
    ]
    output: dict[str, Any] | None
    stdout_tail: str
    stderr_tail: str
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    depends_on: Annotated[list[str], Field(examples=[["extract"]])]

    @classmethod
    def of(cls, task: TaskState) -> "TaskView":
        return cls(
            name=task.name,
            status=task.status,
            attempt=task.attempt,
            queue=task.queue,
            worker=task.worker,
            exit_code=task.exit_code,
            error=task.error,
            reason=task.reason,
            cause=task.cause,
            retry_at=task.retry_at,
            reused_from=task.reused_from,
            output=task.output,
            stdout_tail=task.stdout_tail,
            stderr_tail=task.stderr_tail,
            queued_at=task.queued_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
            depends_on=list(task.depends_on),
        )


class RunLinks(_View):
    self: Annotated[str, Field(examples=["/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"])]
    events: Annotated[str, Field(examples=["/v1/runs/0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10/events"])]


class ForkView(_View):
    """One end of a fork: the other run, and the parent's version the fork started from."""

    run_id: Annotated[str, Field(examples=["3c9f6a2e-8d41-4b7a-b0e5-19c4d7e2f8a6"])]
    from_version: Annotated[int, Field(ge=1, examples=[5])]

    @classmethod
    def of(cls, link: ForkLink) -> "ForkView":
        return cls(run_id=str(link.run_id), from_version=link.from_version)


class RunView(_View):
    """A run of a pinned workflow version, with its tasks in definition order."""

    id: Annotated[str, Field(examples=["0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"])]
    version: Annotated[
        int, Field(description="The run's version: how many events it has.", examples=[7])
    ]
    workflow: Annotated[str, Field(examples=["nightly-etl"])]
    workflow_version: Annotated[
        int, Field(description="0 for an ad-hoc run (no registered version).", examples=[2])
    ]
    status: RunStatus
    reason: Annotated[str | None, Field(description="Why the run failed or was cancelled.")]
    trigger: Annotated[
        str,
        Field(
            description="What started the run: api, adhoc, schedule, backfill, retry or fork.",
            examples=["api"],
        ),
    ]
    retry_of: Annotated[str | None, Field(description="The run this one retries.")]
    retried_by: Annotated[list[str], Field(description="Runs that retry this one, oldest first.")]
    forked_from: Annotated[
        ForkView | None, Field(description="The run (and its version) this one was forked from.")
    ]
    forked_by: Annotated[
        list[ForkView], Field(description="Runs forked from this one, oldest first.")
    ]
    inputs: Annotated[dict[str, Any], Field(examples=[{"date": "2024-05-01"}])]
    created_at: datetime
    finished_at: datetime | None
    tasks: list[TaskView]
    links: RunLinks

    @classmethod
    def of(cls, run: Run) -> "RunView":
        return cls(
            id=str(run.id),
            version=run.version,
            workflow=run.workflow,
            workflow_version=run.workflow_version,
            status=run.status,
            reason=run.reason,
            trigger=run.trigger,
            retry_of=run.retry_of,
            retried_by=list(run.retried_by),
            forked_from=None if run.forked_from is None else ForkView.of(run.forked_from),
            forked_by=[ForkView.of(link) for link in run.forked_by],
            inputs=run.inputs,
            created_at=run.created_on,
            finished_at=run.finished_at,
            tasks=[TaskView.of(run.tasks[spec["name"]]) for spec in run.task_specs],
            links=RunLinks(self=run_path(run.id), events=run_events_path(run.id)),
        )


def _refuse_unstorable_json(inputs: dict[str, Any]) -> None:
    """Refuse NUL characters and lone surrogates in any key or string, however deep."""
    pending: list[tuple[str, object]] = [("inputs", inputs)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                _refuse_unstorable_text(key, f"a key of {where}")
                pending.append((f"{where}.{key}", child))
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", child) for index, child in enumerate(value))
        elif isinstance(value, str):
            _refuse_unstorable_text(value, where)


def _refuse_unstorable_text(text: str, where: str) -> None:
    try:
        refuse_unstorable(text)
    except ValueError as error:
        msg = f"{where} {error}"
        raise ValueError(msg) from None
