"""PostgreSQL and nats-server started from their wheels serve, persist and recover."""

import os
import subprocess
import sys
import time
from pathlib import Path

import nats
import psycopg
import pytest

from ops.embedded import EmbeddedPostgres, EmbeddedServerError, free_port

pytestmark = pytest.mark.integration

_REPO = Path(__file__).resolve().parents[2]


def test_postgres_answers_a_query(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT 1").fetchone()

    assert row == (1,)


def test_postgres_keeps_its_rows_across_a_restart(server_tmp_path: Path) -> None:
    with EmbeddedPostgres(server_tmp_path / "pg") as postgres:
        _execute(postgres.url, "CREATE TABLE runs (id text); INSERT INTO runs VALUES ('r1')")

    with EmbeddedPostgres(server_tmp_path / "pg") as restarted:
        rows = _fetch(restarted.url, "SELECT id FROM runs")

    assert rows == [("r1",)]


def test_postgres_starts_on_a_data_dir_too_deep_for_a_unix_socket(server_tmp_path: Path) -> None:
    deep = server_tmp_path / ("d" * 120) / "pg"

    with EmbeddedPostgres(deep) as postgres:
        rows = _fetch(postgres.url, "SELECT 1")

    assert rows == [(1,)]
    assert len(bytes(postgres.socket_dir / ".s.PGSQL.5432")) <= 107
    assert not postgres.socket_dir.exists()  # the short socket folder is gone after the stop


def test_postgres_listens_on_tcp_when_given_a_port(server_tmp_path: Path) -> None:
    port = free_port()

    with EmbeddedPostgres(server_tmp_path / "pg", tcp_port=port) as postgres:
        rows = _fetch(f"postgresql://postgres@127.0.0.1:{port}/postgres", "SELECT 1")

    assert postgres.url == f"postgresql://postgres@127.0.0.1:{port}/postgres"
    assert rows == [(1,)]


def test_a_stale_pid_file_from_a_crash_does_not_block_a_start(server_tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(server_tmp_path / "pg")
    postgres.start()
    postgres.stop()
    lines = ["1", str(postgres.data_dir), "0", "5432", str(postgres.socket_dir), "", "0 0", ""]
    (postgres.data_dir / "postmaster.pid").write_text("\n".join(lines))  # pid 1: recycled

    with postgres:
        rows = _fetch(postgres.url, "SELECT 1")

    assert rows == [(1,)]


def test_a_server_stops_with_the_process_that_started_it_and_starts_again(
    server_tmp_path: Path,
) -> None:
    data_dir = server_tmp_path / "pg"

    _start_postgres_in_a_process_that_exits(data_dir)

    deadline = time.monotonic() + 60
    while (data_dir / "postmaster.pid").exists():
        assert time.monotonic() < deadline, "the orphaned server kept running"
        time.sleep(0.1)
    with EmbeddedPostgres(data_dir) as postgres:
        assert _fetch(postgres.url, "SELECT 1") == [(1,)]


def test_a_server_in_use_by_a_live_process_is_not_taken_over(server_tmp_path: Path) -> None:
    with EmbeddedPostgres(server_tmp_path / "pg"):
        second = EmbeddedPostgres(server_tmp_path / "pg")

        with pytest.raises(EmbeddedServerError, match="already serves"):
            second.start()


async def test_nats_server_acknowledges_a_jetstream_publish(
    nats_url: str, unique_name: str
) -> None:
    async with await nats.connect(nats_url) as client:
        jetstream = client.jetstream()
        await jetstream.add_stream(name=unique_name, subjects=[f"{unique_name}.>"])

        ack = await jetstream.publish(f"{unique_name}.hello", b"hi")

    assert (ack.stream, ack.seq) == (unique_name, 1)


def _execute(url: str, sql: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(sql.encode())


def _fetch(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql.encode()).fetchall()


def _has_exited(pid: int) -> bool:
    """Gone, or a zombie: an orphan is reaped only if this machine's init does so."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in {"Z", "X"}


def _start_postgres_in_a_process_that_exits(data_dir: Path) -> None:
    start = f"EmbeddedPostgres(Path({str(data_dir)!r})).start()"
    script = f"from pathlib import Path; from ops.embedded import EmbeddedPostgres; {start}"
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
