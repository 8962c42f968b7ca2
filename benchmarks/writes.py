"""What a workload wrote to PostgreSQL: WAL bytes and event-table growth, per task."""

from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier, Literal

from benchmarks.schedules import EVENTS_TABLE


@dataclass(frozen=True)
class WriteMark:
    """Where the WAL and the events table stood at one moment."""

    wal_lsn: str
    events: int
    events_bytes: int


def write_mark(database_url: str) -> WriteMark:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            SQL(
                "SELECT pg_current_wal_lsn()::text, (SELECT count(*) FROM {}), "
                "pg_total_relation_size({})"
            ).format(Identifier(*EVENTS_TABLE.split(".")), Literal(EVENTS_TABLE))
        ).fetchone()
    assert row is not None
    return WriteMark(row[0], row[1], row[2])


def written_per_task(database_url: str, since: WriteMark, tasks: int) -> dict[str, float]:
    """WAL bytes (every table and index, read models included), events and events-table bytes
    written since `since`, per task."""
    now = write_mark(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(%s, %s)", (now.wal_lsn, since.wal_lsn)
        ).fetchone()
    assert row is not None
    per = max(tasks, 1)
    return {
        "wal_bytes_per_task": float(row[0]) / per,
        "events_per_task_written": (now.events - since.events) / per,
        "events_table_bytes_per_task": (now.events_bytes - since.events_bytes) / per,
    }
