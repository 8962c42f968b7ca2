"""The side table where every real execution of a workload task leaves one row."""

import os
from collections import Counter

import psycopg
from psycopg.sql import SQL, Identifier

LEDGER_URL_VARIABLE = "LEDGERFLOW_FAULTS_LEDGER_URL"
LEDGER_SCHEMA_VARIABLE = "LEDGERFLOW_FAULTS_LEDGER_SCHEMA"
TABLE = "fault_executions"

Attempt = tuple[str, str, int]
"""(run id, task, attempt number)."""


def create_table(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        conn.execute(
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (run_id text NOT NULL, task text NOT NULL,"
                " attempt int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT now())"
            ).format(Identifier(schema), Identifier(TABLE))
        )


def record_this_execution() -> int:
    """From inside a task process: one row for the attempt its environment names; returns
    how many times this task of this run has now run, any attempt (1: the first time).

    Straight to PostgreSQL (not through any proxy): the row proves the task ran, whatever
    the faults between the components did.
    """
    run_id, task = os.environ["LEDGERFLOW_RUN_ID"], os.environ["LEDGERFLOW_TASK"]
    table = Identifier(os.environ[LEDGER_SCHEMA_VARIABLE], TABLE)
    with psycopg.connect(os.environ[LEDGER_URL_VARIABLE], autocommit=True) as conn:
        conn.execute(
            SQL("INSERT INTO {} (run_id, task, attempt, pid) VALUES (%s, %s, %s, %s)").format(
                table
            ),
            (run_id, task, int(os.environ["LEDGERFLOW_ATTEMPT"]), os.getppid()),
        )
        row = conn.execute(
            SQL("SELECT count(*) FROM {} WHERE run_id = %s AND task = %s").format(table),
            (run_id, task),
        ).fetchone()
    return int(row[0]) if row else 0


def executions(url: str, schema: str) -> Counter[Attempt]:
    """How many times each attempt really ran."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            SQL("SELECT run_id, task, attempt FROM {}.{}").format(
                Identifier(schema), Identifier(TABLE)
            )
        ).fetchall()
    return Counter((str(run), str(task), int(attempt)) for run, task, attempt in rows)
