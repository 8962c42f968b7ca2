"""The wire contracts between engine and workers: versioned pydantic models, not domain events."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aggregates.names import Identifier
from aggregates.spec import TaskSpec

MAX_TAIL_BYTES = 16 * 1024
MAX_OUTPUT_BYTES = 64 * 1024


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _WorkerMessage(_Message):
    """What workers send. Within a schema version a newer worker may add fields (as `instance`
    and `includes_start` were added); an engine not yet upgraded ignores them, so a rolling
    upgrade in either order loses nothing. Before, such a result was parked as malformed on
    every delivery and its run never ended. A change an older engine must not ignore bumps
    `schema_version`, which is refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ExecuteTask(_Message):
    """Dispatch command: run one attempt of one task. Its NATS message id is `run:task:attempt`.

    `spec` is the task's pinned definition (executor and its fields, timeout, queue); `inputs`
    are the run's inputs and `upstream` the outputs of the task's dependencies.
    """

    schema_version: Literal[1] = 1
    tenant: Identifier
    run_id: UUID
    workflow: Identifier
    task: Identifier
    attempt: Annotated[int, Field(ge=1)]
    spec: TaskSpec
    inputs: dict[str, Any] = {}
    upstream: dict[str, dict[str, Any] | None] = {}

    @property
    def message_id(self) -> str:
        return f"{self.run_id}:{self.task}:{self.attempt}"

    @property
    def queue(self) -> str:
        return self.spec.queue


Outcome = Literal["started", "succeeded", "failed", "timed_out"]


class TaskReported(_WorkerMessage):
    """Result message: what a worker saw of one delivery of one attempt."""

    schema_version: Literal[1] = 1
    tenant: Identifier
    run_id: UUID
    task: Identifier
    attempt: Annotated[int, Field(ge=1)]
    delivery: Annotated[int, Field(ge=1)]
    worker: Identifier
    outcome: Outcome
    at: datetime
    exit_code: int | None = None
    error: Annotated[str, Field(max_length=MAX_TAIL_BYTES)] | None = None
    stdout_tail: Annotated[str, Field(max_length=MAX_TAIL_BYTES)] = ""
    stderr_tail: Annotated[str, Field(max_length=MAX_TAIL_BYTES)] = ""
    output: dict[str, Any] | None = None
    includes_start: bool = False
    """An outcome of an attempt that ended before its `started` report was due (the worker's
    start report delay): the engine records the start with it."""
    instance: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """The worker process that ran this delivery (its heartbeats' `instance`), so the attempts
    of a lost process are told apart from those of a process restarted under its name."""

    @property
    def message_id(self) -> str:
        return f"{self.run_id}:{self.task}:{self.attempt}:{self.delivery}:{self.outcome}"


class WorkerHeartbeat(_WorkerMessage):
    """A worker's periodic sign of life on `heartbeats.<worker>` (core NATS, not an event)."""

    schema_version: Literal[1] = 1
    name: Identifier
    instance: Annotated[str, Field(min_length=1, max_length=64)]
    queues: Annotated[list[Identifier], Field(min_length=1, max_length=64)]
    capacity: Annotated[int, Field(ge=1)]
    in_flight: Annotated[int, Field(ge=0)]
    version: Annotated[str, Field(max_length=64)]
    host: Annotated[str, Field(max_length=255)]
    state: Literal["running", "draining", "stopped"]
    at: datetime


class CancelAttempt(_Message):
    """Control message on `control.<worker>`: stop running this attempt (its run was cancelled)."""

    schema_version: Literal[1] = 1
    run_id: UUID
    task: Identifier
    attempt: Annotated[int, Field(ge=1)]
