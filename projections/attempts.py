"""The attempts projection: task attempts and workers, kept up to date from the event log."""

from typing import Any

from projections.attempt_changes import PROJECTED_TOPICS, changes_for
from projections.attempts_tables import VERSION, AttemptsTables
from projections.read_model import ReadModel
from projections.tracked_projection import TrackedProjection

ATTEMPTS = ReadModel(
    name="attempts",
    version=VERSION,
    tables=AttemptsTables,
    changes_for=changes_for,
    topics=PROJECTED_TOPICS,
)


class AttemptsProjection(TrackedProjection):
    """Follows the log into the attempts tables (see `TrackedProjection` for the arguments)."""

    def __init__(self, tables: AttemptsTables, **follower: Any) -> None:
        super().__init__(
            ATTEMPTS.name, tables, changes_for=changes_for, topics=PROJECTED_TOPICS, **follower
        )
