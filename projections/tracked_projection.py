"""A projection: pure event-to-change functions applied to its tables by a tracked follower."""

import asyncio
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, Notification, Tracking
from eventsourcing.postgres import PostgresDatastore

from projections.follower import DEFAULT_BATCH_SIZE, STANDBY_POLL_SECONDS, TrackedFollower
from projections.read_model import ReadModel


class ProjectionTables(Protocol):
    """A read model's tables: a batch of changes and its position commit together."""

    @property
    def datastore(self) -> PostgresDatastore: ...

    def apply(self, changes: Sequence[Any], tracking: Tracking, previous: int) -> bool: ...

    def max_tracking_id(self, application_name: str) -> int | None: ...


class TrackedProjection:
    """Follows the log into `tables`; single-active across replicas.

    `log` is the application's recorder (its `subscribe`), `decode` turns a notification into
    its domain event (the application's `mapper.to_domain_event`), and `application_name`
    names the log in the tracking table. Rebuild: `tables.reset(...)`, then run it again.
    `applied`, if given, is called (in the follower's thread) with each batch's changes once
    they are committed: a reader that must act on them at once need not poll the tables.
    """

    def __init__(
        self,
        name: str,
        tables: ProjectionTables,
        *,
        changes_for: Callable[[object], Sequence[Any]],
        topics: Collection[str],
        log: ApplicationRecorder,
        decode: Callable[[Notification], object],
        application_name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        standby_poll_seconds: float = STANDBY_POLL_SECONDS,
        linger_seconds: float = 0.0,
        applied: Callable[[Sequence[Any]], None] | None = None,
    ) -> None:
        self.name = name
        self._tables = tables
        self._changes_for = changes_for
        self._applied = applied
        self._application_name = application_name
        self._follower = TrackedFollower(
            name,
            log=log,
            decode=decode,
            topics=topics,
            apply_batch=self._apply_batch,
            tracked_position=self.tracked_position,
            datastore=tables.datastore,
            application_name=application_name,
            batch_size=batch_size,
            standby_poll_seconds=standby_poll_seconds,
            linger_seconds=linger_seconds,
        )

    @classmethod
    def of(cls, model: ReadModel, tables: ProjectionTables, **follower: Any) -> "TrackedProjection":
        """The projection of `model` into `tables` (the other arguments as for the constructor)."""
        return cls(
            model.name, tables, changes_for=model.changes_for, topics=model.topics, **follower
        )

    @property
    def active(self) -> bool:
        """Whether this replica holds the projection's lock and applies the log."""
        return self._follower.active

    @property
    def position(self) -> int:
        """The last position this replica applied (in memory)."""
        return self._follower.position

    def tracked_position(self) -> int:
        """The last position recorded in the tracking table (0 before the first)."""
        return self._tables.max_tracking_id(self._application_name) or 0

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the tables up to date (or stand by for another replica) until `stop` is set."""
        await self._follower.run(stop)

    def _apply_batch(self, events: Sequence[object], tracking: Tracking, previous: int) -> bool:
        changes = [change for event in events for change in self._changes_for(event)]
        if not self._tables.apply(changes, tracking, previous):
            return False
        if changes and self._applied is not None:
            self._applied(changes)
        return True
