"""Ways in for people and clocks: the HTTP API and the user-facing CLI."""
