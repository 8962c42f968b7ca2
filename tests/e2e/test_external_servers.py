"""`LEDGERFLOW_DATABASE_URL` and `LEDGERFLOW_NATS_URL` switch `up` to servers started elsewhere."""

import time
from pathlib import Path

import httpx
import psycopg
import pytest

from ops.embedded import EmbeddedNats, EmbeddedPostgres
from tests.e2e.conftest import Ledgerflow

pytestmark = pytest.mark.e2e


def test_a_run_goes_through_separately_started_servers(server_tmp_path: Path) -> None:
    with (
        EmbeddedPostgres(server_tmp_path / "pg") as postgres,
        EmbeddedNats(server_tmp_path / "nats") as nats_server,
    ):
        system = Ledgerflow(
            server_tmp_path / "lf",
            env={
                "LEDGERFLOW_DATABASE_URL": postgres.url,
                "LEDGERFLOW_NATS_URL": nats_server.url,
                "LEDGERFLOW_DATABASE_SCHEMA": "elsewhere",
            },
        )
        system.start()
        try:
            httpx.put(
                f"{system.url}/v1/workflows/one",
                json={"name": "one", "tasks": [{"name": "only", "executor": "noop"}]},
            ).raise_for_status()
            run_id = httpx.post(f"{system.url}/v1/workflows/one/runs", json={}).json()["id"]
            deadline = time.monotonic() + 60
            while httpx.get(f"{system.url}/v1/runs/{run_id}").json()["status"] != "succeeded":
                assert time.monotonic() < deadline, "the run did not finish"
                time.sleep(0.1)
        finally:
            assert system.stop() == 0

        with psycopg.connect(postgres.url) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM elsewhere.ledgerflow_events WHERE originator_id = %s",
                (run_id,),
            ).fetchone()
        assert stored is not None
        assert stored[0] == 5
        assert not (server_tmp_path / "lf" / "postgres").exists()
        assert not (server_tmp_path / "lf" / "nats").exists()
