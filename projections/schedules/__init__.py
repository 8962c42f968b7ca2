"""The schedules read model: each workflow's schedule and its last decided tick, from the log."""
