"""Start a fresh `ledgerflow up` on a temporary data dir and a free port, and always stop it."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from benchmarks import procfs
from benchmarks.memory import Pids

READY_MARK = "Ledgerflow is up:"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
SERVICES = ("api", "engine", "worker")
_PG_URL = re.compile(r"embedded PostgreSQL: (\S+)")


class HarnessError(RuntimeError):
    """`ledgerflow up` did not start, or exited early; the message holds its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ledgerflow_executable() -> str:
    """The `ledgerflow` script beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("ledgerflow")
    if beside.exists():
        return str(beside)
    found = shutil.which("ledgerflow")
    if found is None:
        raise HarnessError("no `ledgerflow` executable: install the project into this venv")
    return found


class ExternalNats:
    """A nats-server we start ourselves, to run with `jetstream { sync_interval: always }`."""

    def __init__(self, root: Path, log_path: Path) -> None:
        self.port = free_port()
        self.root = root
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        store = self.root / "nats-store"
        conf = self.root / "nats.conf"
        conf.write_text(f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n')
        binary = Path(sys.executable).with_name("nats-server")
        args = [str(binary), "-c", str(conf), "-a", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_for_port(self.port, self.process, 10.0)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class LedgerflowSystem:
    """One `ledgerflow up` (API, engine, worker, PostgreSQL, NATS) for one benchmark invocation."""

    def __init__(
        self,
        log_dir: Path,
        stem: str,
        *,
        worker_concurrency: int | None,
        nats_sync_always: bool,
        api_processes: int = 1,
    ) -> None:
        self.log_dir = log_dir
        self.stem = stem
        self.up_log = log_dir / f"{stem}-up.log"
        self.worker_concurrency = worker_concurrency
        self.nats_sync_always = nats_sync_always
        self.api_processes = api_processes
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="lfbench-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.external_nats: ExternalNats | None = None
        self.pids = Pids(services={}, postgres=None, nats=None)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        try:
            self.start()
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

    def start(self) -> None:
        env = self._environment()
        command = [ledgerflow_executable(), "up", "--data-dir", str(self.data_dir / "data")]
        command += ["--port", str(self.port)]
        with self.up_log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.data_dir,  # children import the installed code, not the caller's cwd
                start_new_session=True,  # our Ctrl-C is handled here; we stop it in `stop`
            )
        self._wait_until_ready()
        self.pids = self._find_processes()

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name in ("LEDGERFLOW_DATABASE_URL", "LEDGERFLOW_NATS_URL"):
            env.pop(name, None)
        env["LEDGERFLOW_API_PROCESSES"] = str(self.api_processes)
        if self.worker_concurrency is not None:
            env["LEDGERFLOW_WORKER_CONCURRENCY"] = str(self.worker_concurrency)
        if self.nats_sync_always:
            self.external_nats = ExternalNats(self.data_dir, self.log_dir / f"{self.stem}-nats.log")
            self.external_nats.start()
            env["LEDGERFLOW_NATS_URL"] = self.external_nats.url
        return env

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if READY_MARK in self.log_text():
                return
            if self.process.poll() is not None:
                raise HarnessError(
                    f"ledgerflow up exited ({self.process.returncode}):\n{self._tail()}"
                )
            time.sleep(0.1)
        raise HarnessError(
            f"ledgerflow up not ready after {READY_TIMEOUT_S:.0f} s:\n{self._tail()}"
        )

    def _find_processes(self) -> Pids:
        assert self.process is not None
        pids = Pids(services={}, postgres=None, nats=None)
        for pid in procfs.children_of(self.process.pid):
            args = procfs.cmdline(pid)
            if args[-2:-1] == ["ops.cli"] and args[-1] in SERVICES:
                pids.services[_unique(args[-1], pids.services)] = pid
            elif args and Path(args[0]).name == "postgres":
                pids.postgres = pid
            elif args and Path(args[0]).name == "nats-server":
                pids.nats = pid
        if self.external_nats is not None and self.external_nats.process is not None:
            pids.nats = self.external_nats.process.pid
        return pids

    def code_location(self) -> str:
        """Where the services import Ledgerflow from (the editable checkout, or PYTHONPATH)."""
        probe = "import ops, pathlib; print(pathlib.Path(ops.__file__).resolve().parent.parent)"
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.data_dir,
            timeout=30,
        )
        return done.stdout.strip() or f"unknown ({done.stderr.strip()[-200:]})"

    def log_text(self) -> str:
        try:
            return self.up_log.read_text(errors="replace")
        except OSError:
            return ""

    def database_url(self) -> str | None:
        """The embedded PostgreSQL URL that `up` logged."""
        match = _PG_URL.search(self.log_text())
        return match.group(1) if match else None

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM `up` and wait; kill our known processes if it does not stop; keep the logs."""
        try:
            self._stop_up()
        finally:
            if self.external_nats is not None:
                self.external_nats.stop()
            self._keep_server_logs()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _stop_up(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill_known()
            process.kill()
            process.wait()

    def _kill_known(self) -> None:
        """Last resort, by pid: only the processes this `up` started."""
        for pid in self.pids.services.values():
            _signal(pid, signal.SIGKILL)
        if self.pids.postgres is not None:
            _signal(self.pids.postgres, signal.SIGQUIT)
        if self.pids.nats is not None:
            _signal(self.pids.nats, signal.SIGKILL)

    def _keep_server_logs(self) -> None:
        for name in ("postgres", "nats"):
            source = self.data_dir / "data" / f"{name}.log"
            if source.exists():
                shutil.copyfile(source, self.log_dir / f"{self.stem}-{name}.log")


def _unique(service: str, named: dict[str, int]) -> str:
    """`api`, then `api-2`, `api-3`... for several processes of one service."""
    count = sum(1 for name in named if name.partition("-")[0] == service)
    return service if count == 0 else f"{service}-{count + 1}"


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"nats-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                if conn.recv(4) == b"INFO":
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise HarnessError(f"nats-server not serving on port {port} after {timeout_s} s")
