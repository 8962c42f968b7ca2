"""The user-facing `ledgerflow` subcommands (workflows, runs, workers, stats) over the HTTP API."""
