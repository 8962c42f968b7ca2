"""The wire contracts between engine and workers: versioned pydantic models, not domain events."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from aggregates.names import Identifier

MAX_TAIL_BYTES = 16 * 1024
MAX_OUTPUT_BYTES = 64 * 1024


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecuteTask(_Message):
    """Dispatch command: run one attempt of one task. Its NATS message id is `run:task:attempt`."""

    schema_version: Literal[1] = 1
    tenant: Identifier
    run_id: UUID
    workflow: Identifier
    task: Identifier
    attempt: Annotated[int, Field(ge=1)]
    queue: Identifier
    executor: Literal["shell", "noop"]
    command: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)]
    inputs: dict[str, Any] = {}

    @property
    def message_id(self) -> str:
        return f"{self.run_id}:{self.task}:{self.attempt}"


Outcome = Literal["started", "succeeded", "failed", "timed_out"]


class TaskReported(_Message):
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

    @property
    def message_id(self) -> str:
        return f"{self.run_id}:{self.task}:{self.attempt}:{self.delivery}:{self.outcome}"
