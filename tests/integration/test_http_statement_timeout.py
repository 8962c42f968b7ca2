"""A list whose query waits on PostgreSQL longer than the API's statement timeout is a 503."""

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from ops.settings import Settings
from ops.system import build_engine
from tests.integration.test_http_on_postgres import a_client

pytestmark = pytest.mark.integration


def test_a_query_stuck_behind_a_lock_answers_503_with_retry_after(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGOPTIONS", "")  # restored after the test: build_engine sets it
    engine = build_engine(settings, statement_timeout=0.5)
    assert settings.database_url is not None
    try:
        with psycopg.connect(settings.database_url) as locker, a_client(engine) as client:
            locker.execute(
                SQL("LOCK TABLE {}.runs IN ACCESS EXCLUSIVE MODE").format(
                    Identifier(settings.schema)
                )
            )

            response = client.get("/v1/runs")

            locker.rollback()
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert response.headers["content-type"].startswith("application/problem+json")
    finally:
        engine.close()
