"""The runs projection: runs and workflows, kept up to date from the event log."""

import asyncio
from collections.abc import Callable, Sequence

from eventsourcing.persistence import ApplicationRecorder, Notification, Tracking

from projections.follower import DEFAULT_BATCH_SIZE, STANDBY_POLL_SECONDS, TrackedFollower
from projections.runs.changes import PROJECTED_TOPICS, changes_for
from projections.runs.tables import RunsTables


class RunsProjection:
    """Follows the log into the runs and workflows tables; single-active across replicas.

    `log` is the application's recorder (its `subscribe`), `decode` turns a notification into
    its domain event (the application's `mapper.to_domain_event`), and `application_name`
    names the log in the tracking table. Rebuild: `tables.reset(...)`, then run it again.
    """

    name = "runs"

    def __init__(
        self,
        tables: RunsTables,
        *,
        log: ApplicationRecorder,
        decode: Callable[[Notification], object],
        application_name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        standby_poll_seconds: float = STANDBY_POLL_SECONDS,
    ) -> None:
        self._tables = tables
        self._application_name = application_name
        self._follower = TrackedFollower(
            self.name,
            log=log,
            decode=decode,
            topics=PROJECTED_TOPICS,
            apply_batch=self._apply_batch,
            tracked_position=self.tracked_position,
            datastore=tables.datastore,
            application_name=application_name,
            batch_size=batch_size,
            standby_poll_seconds=standby_poll_seconds,
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

    def _apply_batch(self, events: Sequence[object], tracking: Tracking) -> bool:
        changes = [change for event in events for change in changes_for(event)]
        return self._tables.apply(changes, tracking)
