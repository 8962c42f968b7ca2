"""`ledgerflow up`: embedded servers, then the API, the engine and one worker as child processes."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from types import FrameType

from ops.embedded import EmbeddedNats, EmbeddedPostgres
from ops.migrate import migrate
from ops.settings import SUPERVISOR_PID_VARIABLE, Settings

logger = logging.getLogger(__name__)

SERVICES = ("api", "engine", "worker")
STOP_GRACE_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 60.0
SERVERS_FILE = "servers.json"


def up(settings: Settings) -> int:
    """Run everything until Ctrl-C or SIGTERM; returns the exit code."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with ExitStack() as servers:
        settings = _with_servers(settings, servers)
        _announce_servers(settings, servers)
        migrate(settings)
        children = {name: _spawn(service, settings) for name, service in _children(settings)}
        try:
            return _supervise(children, settings, stopping)
        finally:
            _stop_all(children)
    return 0


def _with_servers(settings: Settings, servers: ExitStack) -> Settings:
    """Start embedded PostgreSQL and NATS for whichever URL is not configured."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.database_url
    if database_url is None:
        postgres = EmbeddedPostgres(data_dir / "postgres")
        database_url = postgres.start()
        servers.callback(postgres.stop)
        logger.info("embedded PostgreSQL: %s", database_url)
    nats_url = settings.nats_url
    if nats_url is None:
        nats_server = EmbeddedNats(data_dir / "nats")
        nats_url = nats_server.start()
        servers.callback(nats_server.stop)
        logger.info("embedded nats-server: %s", nats_url)
    return settings.with_servers(database_url, nats_url)


def _announce_servers(settings: Settings, servers: ExitStack) -> None:
    """Tell admin commands run beside `up` (`ledgerflow projections ...`) where the servers are."""
    path = settings.data_dir.resolve() / SERVERS_FILE
    path.write_text(
        json.dumps({"database_url": settings.database_url, "nats_url": settings.nats_url})
    )
    path.chmod(0o600)
    servers.callback(path.unlink, missing_ok=True)


def servers_of_up(settings: Settings) -> Settings:
    """`settings` with the servers of a running `ledgerflow up` for each URL not configured."""
    path = settings.data_dir.resolve() / SERVERS_FILE
    if settings.database_url is not None and settings.nats_url is not None:
        return settings
    try:
        urls = json.loads(path.read_text())
    except (OSError, ValueError):
        return settings
    return settings.with_servers(
        settings.database_url or urls["database_url"], settings.nats_url or urls["nats_url"]
    )


def _children(settings: Settings) -> list[tuple[str, str]]:
    """(name, service) of each child: `api`, `api-2`, ... as many as `api_processes`."""
    apis = [("api" if n == 1 else f"api-{n}", "api") for n in range(1, settings.api_processes + 1)]
    return [*apis, *((service, service) for service in SERVICES if service != "api")]


def _spawn(service: str, settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEDGERFLOW_DATABASE_URL": str(settings.database_url),
        "LEDGERFLOW_NATS_URL": str(settings.nats_url),
        "LEDGERFLOW_HOST": settings.host,
        "LEDGERFLOW_PORT": str(settings.port),
        "LEDGERFLOW_API_PROCESSES": str(settings.api_processes),
        SUPERVISOR_PID_VARIABLE: str(os.getpid()),
    }
    # Children ignore the terminal's Ctrl-C (own process group); the supervisor stops them.
    return subprocess.Popen([sys.executable, "-m", "ops.cli", service], env=env, process_group=0)


def _supervise(
    children: dict[str, subprocess.Popen[bytes]], settings: Settings, stopping: list[int]
) -> int:
    url = f"http://{settings.host}:{settings.port}"
    announced = False
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                logger.error("%s exited with code %s; stopping Ledgerflow", name, child.returncode)
                return 1
        if not announced and _ready(url):
            print(f"Ledgerflow is up: {url}  (API docs: {url}/schema/swagger)", flush=True)
            announced = True
        elif not announced and time.monotonic() > deadline:
            logger.error("the API did not become ready within %.0f s", READY_TIMEOUT_SECONDS)
            return 1
        time.sleep(0.2)
    print("Stopping Ledgerflow...", flush=True)
    return 0


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def _stop_all(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in time; killing it", name)
            child.kill()
            child.wait()
