"""The statistics read model: finished runs per workflow and hour or day, built from the log."""
