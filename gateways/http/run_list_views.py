"""How the API shows runs in a list, and every attempt of a run's tasks."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from aggregates.run import Run, RunStatus
from aggregates.task_state import TaskState, TaskStatus
from gateways.http.pages import run_cursor
from gateways.http.paths import run_path
from projections.attempts_view import AttemptRow
from projections.runs.view import RunRow

_RUN_ID = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"
_OUTCOMES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT)
_AFTER_AN_OUTCOME = (
    TaskStatus.WAITING_RETRY,
    TaskStatus.QUEUED,
    TaskStatus.RUNNING,
    TaskStatus.CANCELLED,
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunSummaryLinks(_View):
    self: Annotated[str, Field(examples=[f"/v1/runs/{_RUN_ID}"])]


class RunSummary(_View):
    """One run as a list shows it; `GET` its `links.self` for its tasks and inputs."""

    id: Annotated[str, Field(examples=[_RUN_ID])]
    workflow: Annotated[str, Field(examples=["nightly-etl"])]
    workflow_version: Annotated[int, Field(examples=[2])]
    status: RunStatus
    trigger: Annotated[str, Field(description="What started the run.", examples=["api"])]
    retry_of: Annotated[str | None, Field(description="The run this one retries.")]
    reason: Annotated[str | None, Field(description="Why the run failed or was cancelled.")]
    created_at: Annotated[datetime, Field(description="When the run was started (queued).")]
    started_at: Annotated[
        datetime | None, Field(description="When a worker started its first task.")
    ]
    finished_at: datetime | None
    duration_ms: Annotated[
        int | None,
        Field(
            description="Milliseconds from `created_at` to `finished_at` (queueing included); "
            "null until the run ends.",
            examples=[84210],
        ),
    ]
    links: RunSummaryLinks

    @classmethod
    def of(cls, row: RunRow) -> "RunSummary":
        return cls(
            id=str(row.run_id),
            workflow=row.workflow,
            workflow_version=row.workflow_version,
            status=RunStatus(row.status),
            trigger=row.trigger,
            retry_of=None if row.retry_of is None else str(row.retry_of),
            reason=row.reason,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_ms=row.duration_ms,
            links=RunSummaryLinks(self=run_path(row.run_id)),
        )


class RunPage(_View):
    """A page of runs, newest first; `next_cursor` is null on the last page."""

    items: list[RunSummary]
    next_cursor: Annotated[
        str | None, Field(examples=["cjEABlC38D5qQAteHZxPakwemjN9L45LbBBur4xKfFk"])
    ]

    @classmethod
    def of(cls, rows: list[RunRow], limit: int) -> "RunPage":
        """The first `limit` rows; one more than `limit` means another page follows."""
        page = rows[:limit]
        more = len(rows) > limit
        return cls(
            items=[RunSummary.of(row) for row in page],
            next_cursor=run_cursor(page[-1].position) if more and page else None,
        )


class AttemptView(_View):
    """One attempt of one task: where and when it ran and how it ended.

    `stdout_tail`, `stderr_tail` and `output` are those of the latest attempt of the task to
    report an outcome (null for earlier attempts: the run's history keeps theirs).
    """

    task: Annotated[str, Field(examples=["extract"])]
    attempt: Annotated[int, Field(examples=[1])]
    status: Annotated[
        TaskStatus,
        Field(
            description="queued | running | succeeded | failed | timed_out | waiting_retry | "
            "cancelled"
        ),
    ]
    queue: Annotated[str, Field(examples=["default"])]
    worker: Annotated[str | None, Field(examples=["worker-1"])]
    delivery: Annotated[
        int, Field(description="The JetStream delivery the result came from (0: not started).")
    ]
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: Annotated[
        int | None,
        Field(description="Milliseconds from `started_at` to `finished_at`.", examples=[5230]),
    ]
    exit_code: Annotated[int | None, Field(examples=[0])]
    error: str | None
    cause: Annotated[
        str | None,
        Field(
            description="What ended an unsuccessful attempt: exit, error, timed_out, "
            "worker_lost or undeliverable."
        ),
    ]
    stdout_tail: Annotated[str | None, Field(examples=["loaded 1204 rows\n"])]
    stderr_tail: str | None
    output: Annotated[dict[str, Any] | None, Field(examples=[{"rows": 1204}])]

    @classmethod
    def of(cls, row: AttemptRow, state: TaskState | None) -> "AttemptView":
        """`row` from the attempts read model; `state` from the run, if its outcome is this one."""
        return cls(
            task=row.task,
            attempt=row.attempt,
            status=TaskStatus(row.status),
            queue=row.queue,
            worker=row.worker,
            delivery=row.delivery,
            queued_at=row.queued_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_ms=_milliseconds(row.started_at, row.finished_at),
            exit_code=row.exit_code,
            error=row.error,
            cause=row.cause,
            stdout_tail=None if state is None else state.stdout_tail,
            stderr_tail=None if state is None else state.stderr_tail,
            output=None if state is None else state.output,
        )


class AttemptPage(_View):
    """Every attempt of every task of a run, in definition order, then by attempt."""

    items: list[AttemptView]
    next_cursor: Annotated[str | None, Field(description="Always null: the list is complete.")] = (
        None
    )

    @classmethod
    def of(cls, run: Run, rows: list[AttemptRow]) -> "AttemptPage":
        order = {spec["name"]: index for index, spec in enumerate(run.task_specs)}
        ordered = sorted(rows, key=lambda row: (order.get(row.task, len(order)), row.attempt))
        return cls(items=[AttemptView.of(row, _outcome_of(run, row)) for row in ordered])


def _outcome_of(run: Run, row: AttemptRow) -> TaskState | None:
    """The task's state, if the tails and output it holds were reported by `row`'s attempt.

    A task keeps what its latest outcome reported: that of its current attempt once the
    attempt has ended, else that of the attempt before it (the one whose failure led to a
    retry). Reused tasks hold another run's output, and no attempt of this run.
    """
    state = run.tasks.get(row.task)
    if state is None or state.reused_from is not None:
        return None
    if state.status in _OUTCOMES:
        reported = state.attempt
    elif state.status in _AFTER_AN_OUTCOME:
        reported = state.attempt - 1
    else:
        return None
    return state if row.attempt == reported else None


def _milliseconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))
