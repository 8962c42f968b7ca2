"""The application: the eventsourcing Application whose public methods are the use cases."""
