"""Settings, read once from the environment, and the eventsourcing environment they imply."""

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from aggregates.names import is_identifier
from ops.event_store import MAPPER_TOPIC, RECORDER_TOPIC
from streams.reconciler import BOUND_SECONDS as RECONCILE_AFTER_SECONDS
from streams.subjects import DEFAULT_PREFIX
from streams.topology import DEFAULT_ACK_WAIT_SECONDS, AckWaits

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MAX_DRAIN_GRACE_SECONDS = 3600.0
MAX_API_PROCESSES = 64
_MAX_START_REPORT_DELAY_SECONDS = 60.0
_REDELIVERY_WAIT_RANGE_SECONDS = (1.0, 3600.0)

SUPERVISOR_PID_VARIABLE = "LEDGERFLOW_SUPERVISOR_PID"
"""Set by `ledgerflow up` for its children, so they stop if it dies."""


class SettingsError(ValueError):
    """A setting has a value Ledgerflow cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything a Ledgerflow process needs to know about where it runs."""

    database_url: str | None = None
    nats_url: str | None = None
    data_dir: Path = Path(".ledgerflow")
    host: str = "127.0.0.1"
    port: int = 8080
    schema: str = "ledgerflow"
    nats_prefix: str = DEFAULT_PREFIX
    worker_name: str = field(default_factory=lambda: _default_worker_name())  # noqa: PLW0108 -- defined below
    worker_queues: tuple[str, ...] = ("default",)
    worker_concurrency: int = 4
    worker_imports: tuple[str, ...] = ()
    """Python modules the worker imports at start (python tasks' code), checked before serving."""
    worker_drain_grace: float = 30.0
    """Seconds a stopping worker waits for its attempts before handing them back."""
    worker_start_report_delay: float = 0.02
    """Seconds an attempt runs before the worker reports its start apart: a faster one
    reports start and outcome in one message, recorded in one commit (ADR 23)."""
    heartbeat_seconds: float = 5.0
    dispatch_ack_wait: float = DEFAULT_ACK_WAIT_SECONDS
    """Seconds before JetStream redelivers a dispatch its worker stopped keeping alive."""
    results_ack_wait: float = DEFAULT_ACK_WAIT_SECONDS
    """Seconds before JetStream redelivers a result the engine did not ack."""
    reconcile_after: float = RECONCILE_AFTER_SECONDS
    """Seconds an attempt may stay queued before the engine publishes its dispatch again (in
    case NATS lost it)."""
    worker_executors: tuple[str, ...] = ("shell", "noop", "python", "http")
    pool_size: int = 10
    api_processes: int = 1
    """API processes serving one port (the kernel spreads connections over them): `up` starts
    this many, and each `ledgerflow api` shares its port when it is more than one. An API
    process computes on one core at a time (the GIL)."""
    log_level: str = "info"
    events_max_age_seconds: float = 7 * 24 * 3600.0
    """How long the events stream keeps a CloudEvent (the oldest go first)."""
    events_max_bytes: int = 1024**3
    """How many bytes of CloudEvents the events stream keeps (the oldest go first)."""
    webhook_allow_private: bool = False
    """Let webhooks call http:// and private, loopback or link-local hosts (tests, closed
    networks); off, only https to public addresses is subscribed or delivered to (SSRF)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read `LEDGERFLOW_*` variables; unset ones keep their defaults."""
        env = os.environ if env is None else env
        defaults = cls()

        def get(name: str) -> str | None:
            value = env.get(f"LEDGERFLOW_{name}")
            return value if value else None

        settings = replace(
            defaults,
            database_url=get("DATABASE_URL"),
            nats_url=get("NATS_URL"),
            data_dir=Path(get("DATA_DIR") or defaults.data_dir),
            host=get("HOST") or defaults.host,
            port=_integer("LEDGERFLOW_PORT", get("PORT"), defaults.port, 1, 65535),
            schema=get("DATABASE_SCHEMA") or defaults.schema,
            nats_prefix=get("NATS_PREFIX") or defaults.nats_prefix,
            worker_name=get("WORKER_NAME") or defaults.worker_name,
            worker_queues=tuple((get("WORKER_QUEUES") or "default").split(",")),
            worker_concurrency=_integer(
                "LEDGERFLOW_WORKER_CONCURRENCY", get("WORKER_CONCURRENCY"), 4, 1, 1024
            ),
            worker_imports=tuple(
                module.strip()
                for module in (get("WORKER_IMPORTS") or "").split(",")
                if module.strip()
            ),
            worker_drain_grace=_seconds(
                "LEDGERFLOW_WORKER_DRAIN_GRACE",
                get("WORKER_DRAIN_GRACE"),
                defaults.worker_drain_grace,
            ),
            worker_start_report_delay=_seconds(
                "LEDGERFLOW_WORKER_START_REPORT_DELAY",
                get("WORKER_START_REPORT_DELAY"),
                defaults.worker_start_report_delay,
            ),
            worker_executors=tuple(
                (get("WORKER_EXECUTORS") or ",".join(defaults.worker_executors)).split(",")
            ),
            heartbeat_seconds=_seconds(
                "LEDGERFLOW_HEARTBEAT_SECONDS", get("HEARTBEAT_SECONDS"), defaults.heartbeat_seconds
            ),
            dispatch_ack_wait=_seconds(
                "LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS",
                get("DISPATCH_ACK_WAIT_SECONDS"),
                defaults.dispatch_ack_wait,
            ),
            results_ack_wait=_seconds(
                "LEDGERFLOW_RESULTS_ACK_WAIT_SECONDS",
                get("RESULTS_ACK_WAIT_SECONDS"),
                defaults.results_ack_wait,
            ),
            reconcile_after=_seconds(
                "LEDGERFLOW_RECONCILE_AFTER_SECONDS",
                get("RECONCILE_AFTER_SECONDS"),
                defaults.reconcile_after,
            ),
            pool_size=_integer("LEDGERFLOW_POOL_SIZE", get("POOL_SIZE"), 10, 2, 200),
            api_processes=_integer(
                "LEDGERFLOW_API_PROCESSES",
                get("API_PROCESSES"),
                defaults.api_processes,
                1,
                MAX_API_PROCESSES,
            ),
            log_level=(get("LOG_LEVEL") or defaults.log_level).lower(),
            events_max_age_seconds=_seconds(
                "LEDGERFLOW_EVENTS_MAX_AGE_SECONDS",
                get("EVENTS_MAX_AGE_SECONDS"),
                defaults.events_max_age_seconds,
            ),
            events_max_bytes=_integer(
                "LEDGERFLOW_EVENTS_MAX_BYTES",
                get("EVENTS_MAX_BYTES"),
                defaults.events_max_bytes,
                1024 * 1024,
                2**62,
            ),
            webhook_allow_private=_flag(
                "LEDGERFLOW_WEBHOOK_ALLOW_PRIVATE", get("WEBHOOK_ALLOW_PRIVATE")
            ),
        )
        settings.check()
        return settings

    def check(self) -> None:
        self._check_api_processes()
        for name, value in (
            ("LEDGERFLOW_DATABASE_SCHEMA", self.schema),
            ("LEDGERFLOW_NATS_PREFIX", self.nats_prefix),
            ("LEDGERFLOW_WORKER_NAME", self.worker_name),
            *(("LEDGERFLOW_WORKER_QUEUES", queue) for queue in self.worker_queues),
        ):
            if not is_identifier(value):
                msg = f"{name}={value!r}: use 1-64 characters of [A-Za-z0-9_-]"
                raise SettingsError(msg)
        for module in self.worker_imports:
            if not _MODULE_NAME.fullmatch(module):
                msg = (
                    f"LEDGERFLOW_WORKER_IMPORTS / --import: {module!r} is not a module name "
                    "(pkg.module)"
                )
                raise SettingsError(msg)
        if not 0 <= self.worker_drain_grace <= _MAX_DRAIN_GRACE_SECONDS:  # NaN fails too
            msg = (
                f"LEDGERFLOW_WORKER_DRAIN_GRACE / --drain-grace: {self.worker_drain_grace} "
                "is out of range "
                f"0..{_MAX_DRAIN_GRACE_SECONDS:g}"
            )
            raise SettingsError(msg)
        if not 0 <= self.worker_start_report_delay <= _MAX_START_REPORT_DELAY_SECONDS:
            msg = (
                "LEDGERFLOW_WORKER_START_REPORT_DELAY: "
                f"{self.worker_start_report_delay} is out of range "
                f"0..{_MAX_START_REPORT_DELAY_SECONDS:g}"
            )
            raise SettingsError(msg)
        unknown = sorted(set(self.worker_executors) - {"shell", "noop", "python", "http"})
        if unknown or not self.worker_executors:
            msg = (
                f"LEDGERFLOW_WORKER_EXECUTORS / --executors: {', '.join(unknown) or 'none'} "
                "(use some of shell, noop, python, http)"
            )
            raise SettingsError(msg)
        if not 0.1 <= self.heartbeat_seconds <= _MAX_HEARTBEAT_SECONDS:  # NaN fails too
            msg = (
                f"LEDGERFLOW_HEARTBEAT_SECONDS: {self.heartbeat_seconds} is out of range "
                f"0.1..{_MAX_HEARTBEAT_SECONDS:g}"
            )
            raise SettingsError(msg)
        self._check_redelivery_waits()
        if not 1.0 <= self.events_max_age_seconds <= _MAX_EVENTS_AGE_SECONDS:  # NaN fails too
            msg = (
                f"LEDGERFLOW_EVENTS_MAX_AGE_SECONDS: {self.events_max_age_seconds} is out of "
                f"range 1..{_MAX_EVENTS_AGE_SECONDS:g}"
            )
            raise SettingsError(msg)
        if self.database_url is not None:
            try:
                conninfo_to_dict(self.database_url)
            except Exception as error:
                msg = f"LEDGERFLOW_DATABASE_URL is not a PostgreSQL URL: {error}"
                raise SettingsError(msg) from None

    def _check_api_processes(self) -> None:
        if not 1 <= self.api_processes <= MAX_API_PROCESSES:
            msg = f"API processes: {self.api_processes} is not from 1 to {MAX_API_PROCESSES}"
            raise SettingsError(msg)
        if self.api_processes > 1 and not hasattr(socket, "SO_REUSEPORT"):
            msg = "several API processes on one port need SO_REUSEPORT (Linux, BSD or macOS)"
            raise SettingsError(msg)

    def _check_redelivery_waits(self) -> None:
        low, high = _REDELIVERY_WAIT_RANGE_SECONDS
        for name, seconds in (
            ("LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS", self.dispatch_ack_wait),
            ("LEDGERFLOW_RESULTS_ACK_WAIT_SECONDS", self.results_ack_wait),
            ("LEDGERFLOW_RECONCILE_AFTER_SECONDS", self.reconcile_after),
        ):
            if not low <= seconds <= high:  # NaN fails too
                msg = f"{name}: {seconds} is out of range {low:g}..{high:g} seconds"
                raise SettingsError(msg)

    @property
    def ack_waits(self) -> AckWaits:
        """The ack waits every process declares on the JetStream consumers."""
        return AckWaits(dispatch=self.dispatch_ack_wait, results=self.results_ack_wait)

    def eventsourcing_env(self) -> dict[str, str]:
        """The `env` mapping the eventsourcing Application reads (tables created by migrate)."""
        if self.database_url is None:
            msg = "no database URL: set LEDGERFLOW_DATABASE_URL or run `ledgerflow up`"
            raise SettingsError(msg)
        params = conninfo_to_dict(self.database_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
            "MAPPER_TOPIC": MAPPER_TOPIC,
            "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(params.get("port") or "5432"),
            "POSTGRES_USER": str(params.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(params.get("password") or ""),
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_size),
            # Also the pool checkout timeout, and eventsourcing retries each call ten times:
            # short, so an outage or an exhausted pool becomes a 503 in seconds, not a hang.
            "POSTGRES_CONNECT_TIMEOUT": "2",
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
            "CREATE_TABLE": "n",
        }

    def with_servers(self, database_url: str, nats_url: str) -> "Settings":
        return replace(self, database_url=database_url, nats_url=nats_url)


def _integer(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"{name}={raw!r} is not an integer"
        raise SettingsError(msg) from None
    if not low <= value <= high:
        msg = f"{name}={value} is out of range {low}..{high}"
        raise SettingsError(msg)
    return value


_MAX_HEARTBEAT_SECONDS = 300.0
_MAX_EVENTS_AGE_SECONDS = 100 * 365 * 24 * 3600.0


def _flag(name: str, raw: str | None) -> bool:
    if raw is None or raw.lower() in ("false", "0", "no", "off"):
        return False
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    msg = f"{name}={raw!r}: use true or false"
    raise SettingsError(msg)


def _seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        msg = f"{name}={raw!r} is not a number of seconds"
        raise SettingsError(msg) from None


def _default_worker_name() -> str:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())
    return f"{host[:40].strip('-_') or 'worker'}-{os.getpid()}"
