"""The attempts projection: task attempts and workers, kept up to date from the event log."""

from typing import Any

from projections.attempt_changes import PROJECTED_TOPICS, changes_for
from projections.attempts_tables import AttemptsTables
from projections.tracked_projection import TrackedProjection


class AttemptsProjection(TrackedProjection):
    """Follows the log into the attempts tables (see `TrackedProjection` for the arguments)."""

    def __init__(self, tables: AttemptsTables, **follower: Any) -> None:
        super().__init__(
            "attempts", tables, changes_for=changes_for, topics=PROJECTED_TOPICS, **follower
        )
