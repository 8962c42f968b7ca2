"""One `ledgerflow api` process on embedded PostgreSQL and NATS in a temporary folder, for the
read-path benchmark; it always stops what it started."""

import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import psycopg

from benchmarks import procfs
from benchmarks.harness import HarnessError, free_port, ledgerflow_executable
from benchmarks.memory import Pids
from ops.embedded import EmbeddedNats, EmbeddedPostgres
from ops.migrate import migrate
from ops.settings import Settings

SCHEMA = "ledgerflow"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SAMPLED_RUNS = 1000
LIST_FAILED_SQL = (
    "SELECT run_id, tenant, workflow, workflow_version, status, trigger, retry_of, reason, "
    "created_at, started_at, finished_at, duration_ms, task_count FROM {schema}.runs "
    "WHERE tenant = 'default' AND status = ANY(ARRAY['failed']) "
    "ORDER BY created_at DESC, run_id DESC LIMIT 51"
)
"""The query `GET /v1/runs?status=failed&limit=50` makes (projections.runs.view.RunsView)."""


class ReadApi:
    """Embedded PostgreSQL and NATS, a migrated schema, and `processes` API processes serving
    it on one port."""

    def __init__(self, log_path: Path, pool_size: int = 10, processes: int = 1) -> None:
        self.log_path = log_path
        self.root = Path(tempfile.mkdtemp(prefix="lfread-", dir="/tmp"))
        self.postgres = EmbeddedPostgres(self.root / "pg")
        self.nats = EmbeddedNats(self.root / "nats")
        self.port = free_port()
        self.pool_size = pool_size
        self.processes = processes
        self.started: list[subprocess.Popen[bytes]] = []
        self.settings = Settings()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        try:
            self.settings = Settings(
                database_url=self.postgres.start(),
                nats_url=self.nats.start(),
                schema=SCHEMA,
                pool_size=self.pool_size,
            )
            migrate(self.settings)
            self._start_api()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_api(self) -> None:
        assert self.settings.database_url is not None
        assert self.settings.nats_url is not None
        env = {
            **os.environ,
            "LEDGERFLOW_DATABASE_URL": self.settings.database_url,
            "LEDGERFLOW_NATS_URL": self.settings.nats_url,
            "LEDGERFLOW_DATABASE_SCHEMA": SCHEMA,
            "LEDGERFLOW_POOL_SIZE": str(self.pool_size),
            "LEDGERFLOW_LOG_LEVEL": "warning",
            "LEDGERFLOW_API_PROCESSES": str(self.processes),
        }
        command = [ledgerflow_executable(), "api", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.started = [
                subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
                )
                for _ in range(self.processes)
            ]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in self.started:
                if process.poll() is not None:
                    raise HarnessError(f"ledgerflow api exited ({process.returncode})")
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise HarnessError(f"ledgerflow api not ready after {READY_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        """Stop the API processes, then the servers; delete the temporary folder."""
        try:
            for process in self.started:
                if process.poll() is None:
                    process.terminate()
            for process in self.started:
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            self.nats.stop()
            self.postgres.stop()
            shutil.rmtree(self.root, ignore_errors=True)

    def pids(self) -> Pids:
        """The API processes and the PostgreSQL postmaster, for CPU accounting."""
        postgres = next(
            (
                pid
                for pid in procfs.children_of(os.getpid())
                if Path((procfs.cmdline(pid) or [""])[0]).name == "postgres"
            ),
            None,
        )
        api = {
            "api" if n == 1 else f"api-{n}": process.pid
            for n, process in enumerate(self.started, start=1)
        }
        return Pids(services=api, postgres=postgres, nats=None)

    def some_run_ids(self, count: int = SAMPLED_RUNS) -> list[str]:
        """`count` run ids from the runs read model, the same ones for the same history."""
        with psycopg.connect(self._url()) as conn:
            conn.execute("SELECT setseed(0.42)")
            rows = conn.execute(
                f"SELECT run_id FROM {SCHEMA}.runs ORDER BY random() LIMIT %s",  # noqa: S608 (a constant)
                (count,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def explain_list_failed(self) -> list[str]:
        """EXPLAIN ANALYZE of the failed-runs list query, as PostgreSQL plans it now."""
        with psycopg.connect(self._url()) as conn:
            query = "EXPLAIN (ANALYZE, BUFFERS) " + LIST_FAILED_SQL.format(schema=SCHEMA)
            return [str(row[0]) for row in conn.execute(query).fetchall()]

    def setup(self) -> dict[str, Any]:
        """Where the figures come from: the machine, PostgreSQL's durability, the API's pool."""
        names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        with psycopg.connect(self._url()) as conn:
            values = {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]
        return {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}",
            "python": platform.python_version(),
            "api": f"{self.processes} `ledgerflow api` process(es) (uvicorn) on one port, "
            f"pool size {self.pool_size} each",
            **{f"postgres_{name}": value for name, value in values.items()},
        }

    def _url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url
