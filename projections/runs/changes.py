"""What each Run and Workflow event changes in the runs read model, as plain values (no I/O)."""

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.run import Run, RunStatus
from aggregates.workflow import Workflow


@dataclass(frozen=True)
class RunCreated:
    """A run started (queued): a new row, and one more run of its workflow, now its last
    (an ad-hoc run, of no registered workflow, counts for none)."""

    run_id: UUID
    tenant: str
    workflow: str
    workflow_version: int
    trigger: str
    retry_of: UUID | None
    task_count: int
    at: datetime


@dataclass(frozen=True)
class RunRunning:
    """A task of the run started; the first one moves a queued run to running at `at`."""

    run_id: UUID
    at: datetime


@dataclass(frozen=True)
class RunFinished:
    """The run ended (succeeded, failed or cancelled); its duration runs from its creation."""

    run_id: UUID
    status: RunStatus
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class WorkflowCreated:
    """Version 1 of a workflow was registered."""

    tenant: str
    name: str
    description: str
    at: datetime


@dataclass(frozen=True)
class WorkflowRevised:
    """A workflow's definition changed: `version` is now current."""

    tenant: str
    name: str
    version: int
    description: str
    at: datetime


@dataclass(frozen=True)
class WorkflowRetired:
    """A workflow was retired: it starts no more runs and leaves the default list."""

    tenant: str
    name: str
    at: datetime


@dataclass(frozen=True)
class WorkflowRestored:
    """A retired workflow was applied again: `version` is now current and it is listed again."""

    tenant: str
    name: str
    version: int
    description: str
    at: datetime


Change = (
    RunCreated
    | RunRunning
    | RunFinished
    | WorkflowCreated
    | WorkflowRevised
    | WorkflowRetired
    | WorkflowRestored
)


@singledispatch
def changes_for(event: object) -> tuple[Change, ...]:
    """The row changes one event makes; () for an event the read model does not show."""
    return ()


@changes_for.register
def _run_started(event: Run.Started) -> tuple[Change, ...]:
    return (
        RunCreated(
            run_id=event.originator_id,
            tenant=event.tenant,
            workflow=event.workflow,
            workflow_version=event.workflow_version,
            trigger=event.trigger,
            retry_of=None if event.retry_of is None else UUID(event.retry_of),
            task_count=len(event.tasks),
            at=event.timestamp,
        ),
    )


@changes_for.register
def _task_started(event: Run.TaskStarted) -> tuple[Change, ...]:
    return (RunRunning(event.originator_id, event.timestamp),)


@changes_for.register
def _run_succeeded(event: Run.Succeeded) -> tuple[Change, ...]:
    return (RunFinished(event.originator_id, RunStatus.SUCCEEDED, None, event.timestamp),)


@changes_for.register
def _run_failed(event: Run.Failed) -> tuple[Change, ...]:
    return (RunFinished(event.originator_id, RunStatus.FAILED, event.reason, event.timestamp),)


@changes_for.register
def _run_cancelled(event: Run.Cancelled) -> tuple[Change, ...]:
    return (RunFinished(event.originator_id, RunStatus.CANCELLED, event.reason, event.timestamp),)


@changes_for.register
def _workflow_registered(event: Workflow.Registered) -> tuple[Change, ...]:
    description = str(event.spec.get("description") or "")
    return (WorkflowCreated(event.tenant, event.name, description, event.timestamp),)


@changes_for.register
def _workflow_revised(event: Workflow.Revised) -> tuple[Change, ...]:
    # A revision carries the whole definition, whose name is the workflow's (it is the key
    # the engine loaded the workflow by).
    name = str(event.spec["name"])
    description = str(event.spec.get("description") or "")
    return (WorkflowRevised(event.tenant, name, event.version, description, event.timestamp),)


@changes_for.register
def _workflow_retired(event: Workflow.Retired) -> tuple[Change, ...]:
    return (WorkflowRetired(event.tenant, event.name, event.timestamp),)


@changes_for.register
def _workflow_restored(event: Workflow.Restored) -> tuple[Change, ...]:
    name = str(event.spec["name"])
    description = str(event.spec.get("description") or "")
    return (WorkflowRestored(event.tenant, name, event.version, description, event.timestamp),)


PROJECTED_TOPICS = frozenset(get_topic(kind) for kind in changes_for.registry if kind is not object)
"""The events that change the read model; every other event only advances its position."""
