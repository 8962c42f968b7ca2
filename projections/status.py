"""How far each read model is behind the log: positions, lag in events and seconds, follower."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import ApplicationRecorder, Notification, ProgrammingError
from eventsourcing.postgres import PostgresDatastore

from projections.follower import advisory_lock_key
from projections.positions import tracked_position
from projections.read_model import ReadModel
from projections.versions import recorded_versions


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    version: int
    """The version this code builds."""
    built_version: int | None
    """The version that built the tables in the store (None: not built yet)."""
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    """How long ago the oldest event the read model has not applied was recorded (0 when none)."""
    following: bool
    """Whether a follower (in any engine process) holds the read model's lock."""


class ProjectionStatusReader:
    """Reads every read model's status from the store; `now` gives the time lag is measured to."""

    def __init__(
        self,
        models: Sequence[ReadModel],
        datastore: PostgresDatastore,
        *,
        log: ApplicationRecorder,
        decode: Callable[[Notification], object],
        application_name: str,
        now: Callable[[], datetime],
    ) -> None:
        self._models = [(model, model.tables(datastore).tables[-1]) for model in models]
        self._datastore = datastore
        self._log = log
        self._decode = decode
        self._application_name = application_name
        self._now = now

    def __call__(self) -> list[ProjectionStatus]:
        head = self._log.max_notification_id() or 0
        built = recorded_versions(self._datastore)
        return [self._status(model, tracking, head, built) for model, tracking in self._models]

    def _status(
        self, model: ReadModel, tracking: str, head: int, built: dict[str, int]
    ) -> ProjectionStatus:
        position = min(head, self._position(tracking))
        return ProjectionStatus(
            name=model.name,
            version=model.version,
            built_version=built.get(model.name),
            position=position,
            head=head,
            lag_events=head - position,
            lag_seconds=self._lag_seconds(position, head),
            following=self._following(model.name),
        )

    def _position(self, tracking: str) -> int:
        try:
            return tracked_position(self._datastore, tracking, self._application_name)
        except ProgrammingError:  # no tracking table yet: nothing applied
            return 0

    def _lag_seconds(self, position: int, head: int) -> float:
        if position >= head:
            return 0.0
        oldest = self._log.select_notifications(start=position + 1, limit=1)
        if not oldest:
            return 0.0
        recorded_at: datetime = getattr(self._decode(oldest[0]), "timestamp", self._now())
        return max(0.0, (self._now() - recorded_at).total_seconds())

    def _following(self, name: str) -> bool:
        key = advisory_lock_key(f"{self._datastore.schema}.{name}") & 0xFFFF_FFFF_FFFF_FFFF
        with self._datastore.get_connection() as conn, conn.cursor() as cursor:
            # pg_locks shows a bigint advisory key as its high and low halves.
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1) "
                "AS held",
                (key >> 32, key & 0xFFFF_FFFF),
            )
            row = cursor.fetchone()
        return bool(row and row["held"])
