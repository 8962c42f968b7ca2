"""The Workflow aggregate: a named, versioned definition that runs pin by version."""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from aggregates.errors import NoScheduleError, WorkflowNotFoundError, WorkflowRetiredError
from aggregates.names import workflow_id
from aggregates.provenance import AttributedAggregate, Origin
from aggregates.schedule import ScheduleSpec
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

    class Retired(AttributedAggregate.Event):
        name: str
        reason: str | None

    class Restored(AttributedAggregate.Event):
        version: int
        spec: dict[str, Any]
        fingerprint: str

    class SchedulePaused(AttributedAggregate.Event):
        name: str
        reason: str | None

    class ScheduleResumed(AttributedAggregate.Event):
        name: str

    @classmethod
    def register(cls, tenant: str, spec: WorkflowSpec, origin: Origin) -> "Workflow":
        """Version 1 of a workflow; its id is derived from (tenant, name), so names are unique."""
        check_graph(spec)
        return cls._create(
            cls.Registered,
            id=workflow_id(tenant, spec.name),
            **origin.provenance(tenant),
            name=spec.name,
            spec=spec.as_data(),
            fingerprint=spec.fingerprint(),
        )

    @event(Registered)
    def __init__(
        self,
        tenant: str,
        name: str,
        spec: dict[str, Any],
        fingerprint: str,
        timestamp: Any = None,
    ) -> None:
        self.tenant = tenant
        self.name = name
        self.specs: list[dict[str, Any]] = [spec]
        self.fingerprint = fingerprint
        self.version_recorded_at: datetime = timestamp
        self.retired_at: datetime | None = None
        self.retired_reason: str | None = None
        self.schedule_paused = False

    @property
    def current_version(self) -> int:
        return len(self.specs)

    def spec(self, version: int | None = None) -> WorkflowSpec:
        """The definition at `version` (the current one by default)."""
        number = self.current_version if version is None else version
        if not 1 <= number <= self.current_version:
            raise WorkflowNotFoundError(self.name, number)
        return WorkflowSpec.model_validate(self.specs[number - 1])

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    def spec_to_run(self) -> WorkflowSpec:
        """The current definition, for a new run; a retired workflow starts none."""
        if self.is_retired:
            raise WorkflowRetiredError(self.name)
        return self.spec()

    def revise(self, spec: WorkflowSpec, origin: Origin) -> bool:
        """Make `spec` the next version; an unchanged definition records nothing.

        A retired workflow is restored at a new version, even with an unchanged definition.
        """
        check_graph(spec)
        fingerprint = spec.fingerprint()
        version = self.current_version + 1
        with self._acting(origin):
            if self.is_retired:
                self._restored(version=version, spec=spec.as_data(), fingerprint=fingerprint)
                return True
            if fingerprint == self.fingerprint:
                return False
            self._revised(version=version, spec=spec.as_data(), fingerprint=fingerprint)
        return True

    def retire(self, reason: str | None, origin: Origin) -> bool:
        """Start no more runs of this workflow (its versions and runs stay readable).

        Retiring a retired workflow records nothing.
        """
        if self.is_retired:
            return False
        with self._acting(origin):
            self._retired(name=self.name, reason=reason)
        return True

    def schedule(self) -> ScheduleSpec:
        """The current version's schedule; `NoScheduleError` if it has none."""
        schedule = self.spec().schedule
        if schedule is None:
            raise NoScheduleError(self.name)
        return schedule

    def pause_schedule(self, reason: str | None, origin: Origin) -> bool:
        """Fire no more ticks until resumed (across revisions); pausing twice records nothing."""
        self.schedule()
        if self.schedule_paused:
            return False
        with self._acting(origin):
            self._schedule_paused(name=self.name, reason=reason)
        return True

    def resume_schedule(self, origin: Origin) -> bool:
        """Fire ticks again from the next one (those due while paused are not fired)."""
        self.schedule()
        if not self.schedule_paused:
            return False
        with self._acting(origin):
            self._schedule_resumed(name=self.name)
        return True

    @event(SchedulePaused)
    def _schedule_paused(self, name: str, reason: str | None) -> None:
        self.schedule_paused = True

    @event(ScheduleResumed)
    def _schedule_resumed(self, name: str) -> None:
        self.schedule_paused = False

    @event(Revised)
    def _revised(
        self, version: int, spec: dict[str, Any], fingerprint: str, timestamp: Any = None
    ) -> None:
        self.specs.append(spec)
        self.fingerprint = fingerprint
        self.version_recorded_at = timestamp

    @event(Retired)
    def _retired(self, name: str, reason: str | None, timestamp: Any = None) -> None:
        self.retired_at = timestamp
        self.retired_reason = reason

    @event(Restored)
    def _restored(
        self, version: int, spec: dict[str, Any], fingerprint: str, timestamp: Any = None
    ) -> None:
        self.specs.append(spec)
        self.fingerprint = fingerprint
        self.version_recorded_at = timestamp
        self.retired_at = None
        self.retired_reason = None

    @staticmethod
    def id_for(tenant: str, name: str) -> UUID:
        return workflow_id(tenant, name)
