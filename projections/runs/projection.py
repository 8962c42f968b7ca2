"""The runs projection: runs and workflows, kept up to date from the event log."""

from projections.read_model import ReadModel
from projections.runs.changes import PROJECTED_TOPICS, changes_for
from projections.runs.tables import VERSION, RunsTables

RUNS = ReadModel(
    name="runs",
    version=VERSION,
    tables=RunsTables,
    changes_for=changes_for,
    topics=PROJECTED_TOPICS,
)
