"""The trigger use case: a message on a tenant's subject starts one run per matching workflow."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from aggregates.errors import DomainError
from aggregates.names import triggered_run_id
from aggregates.provenance import Origin
from aggregates.run import Run
from aggregates.spec import WorkflowSpec
from aggregates.trigger import TriggerMessage
from aggregates.trigger_index import TriggerIndex
from aggregates.workflow import Workflow

TRIGGER = "event"
"""The `trigger` of a run a message started."""


@dataclass(frozen=True)
class TriggeredRun:
    """A run a message started (`created`), or the one an earlier copy of it started."""

    run: Run
    created: bool


class Triggering(Application[UUID]):
    """The Ledgerflow Application's trigger use cases (a mixin of `Ledgerflow`)."""

    clock: Callable[[], datetime]

    if TYPE_CHECKING:

        def get_workflow(self, tenant: str, name: str) -> Workflow: ...

        def load_run(self, run_id: UUID) -> Run | None: ...

    def start_triggered_runs(
        self, tenant: str, message: TriggerMessage, actor: str
    ) -> list[TriggeredRun]:
        """One run per workflow of `tenant` whose trigger matches `message`, by workflow name.

        The run id is derived from (tenant, workflow, message id): a redelivered or repeated
        message returns the runs its first copy started and starts nothing. The run records
        the message as its inputs, `trigger` `event`, the actor `actor` (`trigger:<subject>`
        by default), the message id as correlation id, the sender's trace if it names one
        (a `traceparent` attribute) and `event:<subject>:<id>` as its request hash.
        """
        origin = Origin.joining(actor, message.id, self.clock(), message.traceparent)
        outcomes: list[TriggeredRun] = []
        for name in sorted(self._listed_workflows(tenant, message.subject)):
            outcome = self._start_triggered(tenant, name, message, origin)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def trigger_indexes(
        self, tenant: str, spec: WorkflowSpec, origin: Origin
    ) -> list[TriggerIndex]:
        """The indexes that must list `spec`'s workflow, changed; saved with the workflow."""
        changed: list[TriggerIndex] = []
        for subject in sorted({trigger.subject for trigger in spec.triggers}):
            index = self._trigger_index(tenant, subject) or TriggerIndex.create(
                tenant, subject, origin
            )
            if index.list_workflow(spec.name, origin):
                changed.append(index)
        return changed

    def _start_triggered(
        self, tenant: str, name: str, message: TriggerMessage, origin: Origin
    ) -> TriggeredRun | None:
        run_id = triggered_run_id(tenant, name, message.id)
        existing = self.load_run(run_id)
        if existing is not None:
            return TriggeredRun(existing, created=False)
        try:
            workflow = self.get_workflow(tenant, name)
        except DomainError:
            return None
        spec = workflow.spec()
        if workflow.is_retired or not any(t.matches(message) for t in spec.triggers):
            return None
        run = Run.start(
            run_id=run_id,
            tenant=tenant,
            spec=spec,
            workflow_version=workflow.current_version,
            inputs=message.body,
            request_hash=f"{TRIGGER}:{message.subject}:{message.id}",
            trigger=TRIGGER,
            origin=origin,
        )
        try:
            self.save(run)
        except IntegrityError:
            existing = self.load_run(run_id)
            if existing is None:
                raise
            return TriggeredRun(existing, created=False)
        return TriggeredRun(run, created=True)

    def _listed_workflows(self, tenant: str, subject: str) -> list[str]:
        index = self._trigger_index(tenant, subject)
        return [] if index is None else list(index.workflows)

    def _trigger_index(self, tenant: str, subject: str) -> TriggerIndex | None:
        try:
            index: TriggerIndex = self.repository.get(TriggerIndex.id_for(tenant, subject))
        except AggregateNotFoundError:
            return None
        return index
