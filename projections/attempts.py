"""The attempts projection: task attempts and workers, kept up to date from the event log."""

from projections.attempt_changes import PROJECTED_TOPICS, changes_for
from projections.attempts_tables import VERSION, AttemptsTables
from projections.read_model import ReadModel

ATTEMPTS = ReadModel(
    name="attempts",
    version=VERSION,
    tables=AttemptsTables,
    changes_for=changes_for,
    topics=PROJECTED_TOPICS,
)
