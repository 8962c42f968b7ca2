"""The runs projection: runs and workflows, kept up to date from the event log."""

from typing import Any

from projections.read_model import ReadModel
from projections.runs.changes import PROJECTED_TOPICS, changes_for
from projections.runs.tables import VERSION, RunsTables
from projections.tracked_projection import TrackedProjection

RUNS = ReadModel(
    name="runs",
    version=VERSION,
    tables=RunsTables,
    changes_for=changes_for,
    topics=PROJECTED_TOPICS,
)


class RunsProjection(TrackedProjection):
    """Follows the log into the runs and workflows tables (see `TrackedProjection`)."""

    def __init__(self, tables: RunsTables, **follower: Any) -> None:
        super().__init__(
            RUNS.name, tables, changes_for=changes_for, topics=PROJECTED_TOPICS, **follower
        )
