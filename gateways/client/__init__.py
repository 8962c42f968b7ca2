"""A small typed client for Ledgerflow's HTTP API, needing nothing but httpx."""
