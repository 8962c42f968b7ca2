"""The Workflow aggregate: a named, versioned definition that runs pin by version."""

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from aggregates.errors import WorkflowNotFoundError
from aggregates.names import workflow_id
from aggregates.provenance import AttributedAggregate, Origin
from aggregates.spec import WorkflowSpec, check_graph


class Workflow(AttributedAggregate):
    """Every version of one workflow definition within a tenant."""

    class Registered(AttributedAggregate.Created, AttributedAggregate.Event):
        name: str
        spec: dict[str, Any]
        fingerprint: str

    class Revised(AttributedAggregate.Event):
        version: int
        spec: dict[str, Any]
        fingerprint: str

    @classmethod
    def register(cls, tenant: str, spec: WorkflowSpec, origin: Origin) -> "Workflow":
        """Version 1 of a workflow; its id is derived from (tenant, name), so names are unique."""
        check_graph(spec)
        return cls._create(
            cls.Registered,
            id=workflow_id(tenant, spec.name),
            tenant=tenant,
            actor=origin.actor,
            correlation_id=origin.correlation_id,
            timestamp=origin.at,
            name=spec.name,
            spec=spec.as_data(),
            fingerprint=spec.fingerprint(),
        )

    @event(Registered)
    def __init__(self, tenant: str, name: str, spec: dict[str, Any], fingerprint: str) -> None:
        self.tenant = tenant
        self.name = name
        self.specs: list[dict[str, Any]] = [spec]
        self.fingerprint = fingerprint

    @property
    def current_version(self) -> int:
        return len(self.specs)

    def spec(self, version: int | None = None) -> WorkflowSpec:
        """The definition at `version` (the current one by default)."""
        number = self.current_version if version is None else version
        if not 1 <= number <= self.current_version:
            raise WorkflowNotFoundError(self.name, number)
        return WorkflowSpec.model_validate(self.specs[number - 1])

    def revise(self, spec: WorkflowSpec, origin: Origin) -> bool:
        """Make `spec` the next version; an unchanged definition records nothing."""
        check_graph(spec)
        fingerprint = spec.fingerprint()
        if fingerprint == self.fingerprint:
            return False
        with self._acting(origin):
            self._revised(
                version=self.current_version + 1, spec=spec.as_data(), fingerprint=fingerprint
            )
        return True

    @event(Revised)
    def _revised(self, version: int, spec: dict[str, Any], fingerprint: str) -> None:
        self.specs.append(spec)
        self.fingerprint = fingerprint

    @staticmethod
    def id_for(tenant: str, name: str) -> UUID:
        return workflow_id(tenant, name)
