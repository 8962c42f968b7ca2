"""The Litestar HTTP API; `app.create_app` builds it from an engine and a readiness probe."""
