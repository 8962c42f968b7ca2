"""A real `ledgerflow up` as a subprocess on free ports, for end-to-end tests."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.embedded import free_port
from ops.settings import Settings
from tests.e2e.rig import Deployment

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


class Ledgerflow:
    """One `ledgerflow up` process tree; `start` and `stop` may be called repeatedly."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.log = data_dir.parent / f"{data_dir.name}-up.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "ops.cli", "up", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ledgerflow up did not become ready:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.2)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def ledgerflow(server_tmp_path: Path) -> Iterator[Ledgerflow]:
    system = Ledgerflow(server_tmp_path / "lf")
    yield system
    if system.process is not None and system.process.poll() is None:
        try:
            system.stop()  # graceful, so the embedded servers stop too
        except subprocess.TimeoutExpired:
            system.process.kill()
            system.process.wait()


@pytest.fixture
def deployment(
    postgres_url: str, nats_url: str, unique_name: str, server_tmp_path: Path
) -> Iterator[Deployment]:
    """Separate api, engine and worker processes on the session's servers (start them)."""
    settings = Settings(
        database_url=postgres_url,
        nats_url=nats_url,
        schema=unique_name,
        nats_prefix=unique_name,
        worker_name="unused",
    )
    system = Deployment(settings, server_tmp_path)
    yield system
    system.stop()
