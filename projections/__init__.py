"""Read models built from the event log with tracked positions."""
