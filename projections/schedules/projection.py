"""The schedules projection: what is scheduled and its last decided tick, kept from the log."""

from projections.read_model import ReadModel
from projections.schedules.changes import PROJECTED_TOPICS, changes_for
from projections.schedules.tables import VERSION, SchedulesTables

SCHEDULES = ReadModel(
    name="schedules",
    version=VERSION,
    tables=SchedulesTables,
    changes_for=changes_for,
    topics=PROJECTED_TOPICS,
)
