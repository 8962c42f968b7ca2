"""The index of the workflows that declared a trigger on one subject name of a tenant."""

from uuid import UUID

from eventsourcing.domain import event

from aggregates.names import trigger_index_id
from aggregates.provenance import AttributedAggregate, Origin


class TriggerIndex(AttributedAggregate):
    """Every workflow that ever declared a trigger on `subject` (names only ever join).

    A workflow stays listed after a revision drops its trigger: matching reads each listed
    workflow's current definition, so a stale entry matches nothing. Saved in the same
    transaction as the workflow it lists (the eventsourcing index pattern).
    """

    class Opened(AttributedAggregate.Created, AttributedAggregate.Event):
        subject: str

    class WorkflowListed(AttributedAggregate.Event):
        workflow: str

    @classmethod
    def create(cls, tenant: str, subject: str, origin: Origin) -> "TriggerIndex":
        return cls._create(
            cls.Opened,
            id=trigger_index_id(tenant, subject),
            **origin.provenance(tenant),
            subject=subject,
        )

    @event(Opened)
    def __init__(self, tenant: str, subject: str) -> None:
        self.tenant = tenant
        self.subject = subject
        self.workflows: list[str] = []

    def list_workflow(self, workflow: str, origin: Origin) -> bool:
        """Add `workflow`; one already listed records nothing."""
        if workflow in self.workflows:
            return False
        with self._acting(origin):
            self._workflow_listed(workflow=workflow)
        return True

    @event(WorkflowListed)
    def _workflow_listed(self, workflow: str) -> None:
        self.workflows.append(workflow)

    @staticmethod
    def id_for(tenant: str, subject: str) -> UUID:
        return trigger_index_id(tenant, subject)
