"""The domain: event-sourced aggregates, their past-tense events and value objects; no I/O."""
