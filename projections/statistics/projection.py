"""The statistics projection: finished runs per workflow and hour or day, kept from the log."""

from projections.read_model import ReadModel
from projections.statistics.changes import PROJECTED_TOPICS, changes_for
from projections.statistics.tables import VERSION, StatisticsTables

STATISTICS = ReadModel(
    name="statistics",
    version=VERSION,
    tables=StatisticsTables,
    changes_for=changes_for,
    topics=PROJECTED_TOPICS,
)
