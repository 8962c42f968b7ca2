"""Snapshots of long runs: how often one is taken, and how a run's state is stored in one."""

import logging
from functools import cached_property
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import (
    Application,
    ProjectorFunction,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, PersistenceError, Transcoding

from aggregates.run import ForkLink, Run
from aggregates.task_state import TaskState, TaskStatus

logger = logging.getLogger(__name__)

RUN_SNAPSHOT_INTERVAL = 500
"""A run is snapshotted at every 500th version: rebuilding it at any version replays at most
499 events after a snapshot. Most runs never reach one (ADR 21)."""


class TaskStateAsDict(Transcoding):
    """A task's state as a JSON object; its status and dependencies come back typed."""

    type = TaskState
    name = "ledgerflow_task_state"

    def encode(self, obj: TaskState) -> dict[str, Any]:
        return dict(vars(obj))

    def decode(self, data: dict[str, Any]) -> TaskState:
        # JSON keeps the status enum as its value and the dependency tuple as a list.
        typed = {"status": TaskStatus(data["status"]), "depends_on": tuple(data["depends_on"])}
        return TaskState(**(data | typed))


class ForkLinkAsDict(Transcoding):
    """One end of a fork as a JSON object (its run id is transcoded as a UUID)."""

    type = ForkLink
    name = "ledgerflow_fork_link"

    def encode(self, obj: ForkLink) -> dict[str, Any]:
        return {"run_id": obj.run_id, "from_version": obj.from_version}

    def decode(self, data: dict[str, Any]) -> ForkLink:
        return ForkLink(run_id=data["run_id"], from_version=data["from_version"])


class RunSnapshots(Application[UUID]):
    """Takes a snapshot of a run at every `RUN_SNAPSHOT_INTERVAL`-th version when it is saved,
    and reads the past from them (a mixin of `Ledgerflow`, through `PastReads`)."""

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Run: RUN_SNAPSHOT_INTERVAL}

    def construct_repository(self) -> Repository[UUID]:
        """The repository of the engine's own loads, which reads events only: looking for a
        snapshot first would add a query to every load of every run, and most runs never
        get one (ADR 21)."""
        live = super().construct_repository()
        live.snapshot_store = None
        return live

    @cached_property
    def past(self) -> Repository[UUID]:
        """Loads at a version: from the latest snapshot at or before it, then the events
        after it."""
        return Repository(event_store=self.events, snapshot_store=self.snapshots)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(TaskStateAsDict())
        transcoder.register(ForkLinkAsDict())

    def take_snapshot(
        self,
        aggregate_id: UUID,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
    ) -> None:
        """Store the aggregate's state at `version`, rebuilt from the snapshot before it; a
        failure is logged, not raised.

        The library takes snapshots after the save's transaction committed: raising then
        would report a recorded command as failed. A missing snapshot only costs a longer
        rebuild.
        """
        try:
            aggregate: Aggregate = self.past.get(
                aggregate_id, version=version, projector_func=projector_func
            )
            if self.snapshots is not None:
                self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])
        except PersistenceError:
            logger.warning("no snapshot of %s at version %s", aggregate_id, version, exc_info=True)
