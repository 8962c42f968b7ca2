"""The runs and workflows read model: the lists the API pages through, built from the log."""
