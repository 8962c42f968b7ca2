"""The statistics projection: finished runs per workflow and hour or day, kept from the log."""

from typing import Any

from projections.read_model import ReadModel
from projections.statistics.changes import PROJECTED_TOPICS, changes_for
from projections.statistics.tables import VERSION, StatisticsTables
from projections.tracked_projection import TrackedProjection

STATISTICS = ReadModel(
    name="statistics",
    version=VERSION,
    tables=StatisticsTables,
    changes_for=changes_for,
    topics=PROJECTED_TOPICS,
)


class StatisticsProjection(TrackedProjection):
    """Follows the log into the statistics tables (see `TrackedProjection` for the arguments)."""

    def __init__(self, tables: StatisticsTables, **follower: Any) -> None:
        super().__init__(
            STATISTICS.name, tables, changes_for=changes_for, topics=PROJECTED_TOPICS, **follower
        )
