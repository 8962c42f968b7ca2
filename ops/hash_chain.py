"""Tamper evidence for the events table: each event's hash chains it to its aggregate's previous
event (filled by a trigger the recorder creates), and the check that walks every chain (ADR 14)."""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier

_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.{function}() RETURNS trigger LANGUAGE plpgsql AS $chain$
DECLARE
    previous bytea;
    topic bytea := convert_to(coalesce(NEW.topic, ''), 'UTF8');
    state bytea := coalesce(NEW.state, ''::bytea);
BEGIN
    IF NEW.originator_version > 1 THEN
        SELECT hash INTO previous FROM {schema}.{table}
        WHERE originator_id = NEW.originator_id
          AND originator_version = NEW.originator_version - 1;
    END IF;
    NEW.hash := sha256(
        coalesce(previous, ''::bytea)
        || convert_to(NEW.originator_id::text, 'UTF8')
        || int8send(NEW.originator_version)
        || int4send(octet_length(topic)) || topic
        || int4send(octet_length(state)) || state
    );
    RETURN NEW;
END
$chain$
"""
_CHAIN_TABLE = (
    "CREATE TABLE IF NOT EXISTS {schema}.{chain} (singleton boolean PRIMARY KEY DEFAULT true "
    "CHECK (singleton), started_after bigint NOT NULL, started_at timestamptz NOT NULL "
    "DEFAULT now())"
)
# Events already recorded when chaining began carry no hash; later ones must.
_CHAIN_START = (
    "INSERT INTO {schema}.{chain} (started_after) "
    "SELECT coalesce(max(notification_id), 0) FROM {schema}.{table} ON CONFLICT DO NOTHING"
)


class ChainedRecorder(PostgresApplicationRecorder):
    """Creates (and, for a store made before chaining, adds) the `hash` column, the trigger
    that fills it on every insert, and the record of where chaining began."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        names = chain_names(datastore.schema, self.events_table_name)
        for statement in (
            # Under the lock, no writer slips an unhashed event between the start and the trigger.
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE",
            "ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS hash bytea",
            _CHAIN_TABLE,
            _CHAIN_START,
            _FUNCTION,
            "DROP TRIGGER IF EXISTS {trigger} ON {schema}.{table}",
            "CREATE TRIGGER {trigger} BEFORE INSERT ON {schema}.{table} "
            "FOR EACH ROW EXECUTE FUNCTION {schema}.{function}()",
        ):
            self.sql_create_statements.append(SQL(statement).format(**names))


def chain_names(schema: str, table: str) -> dict[str, Identifier]:
    """The quoted names of the chain's objects for the events table `schema.table`."""
    return {
        "schema": Identifier(schema),
        "table": Identifier(table),
        "chain": Identifier(f"{table}_chain"[:63]),
        "function": Identifier(f"{table}_chain_hash"[:63]),
        "trigger": Identifier(f"{table}_chain"[:63]),
    }


def event_hash(
    previous: bytes, originator_id: UUID, version: int, topic: str, state: bytes
) -> bytes:
    """What the trigger computes: SHA-256 over the previous hash and the event's fields."""
    topic_bytes = topic.encode()
    return hashlib.sha256(
        previous
        + str(originator_id).encode()
        + version.to_bytes(8, "big", signed=True)
        + len(topic_bytes).to_bytes(4, "big")
        + topic_bytes
        + len(state).to_bytes(4, "big")
        + state
    ).digest()


@dataclass(frozen=True)
class Break:
    """The first event whose chain does not hold."""

    aggregate_id: UUID
    version: int
    problem: str


@dataclass
class ChainReport:
    """What walking every chain found."""

    aggregates: int = 0
    chained: int = 0
    unchained: int = 0
    """Events recorded before chaining began: they carry no hash and prove nothing."""
    first_break: Break | None = None
    head_digest: str = ""
    """SHA-256 over every aggregate's latest hash: record it elsewhere to detect a rewrite
    of whole chains later."""


def verify_chains(datastore: PostgresDatastore, table: str) -> ChainReport:
    """Walk every aggregate's events in version order and recompute their hashes."""
    report, heads = ChainReport(), hashlib.sha256()
    started_after = _started_after(datastore, table)
    current: UUID | None = None
    previous, version = b"", 0
    for row in _rows(datastore, table):
        if row["originator_id"] != current:
            if current is not None:
                heads.update(previous)
            current, previous, version = row["originator_id"], b"", 0
            report.aggregates += 1
        version += 1
        problem = _check(row, version, previous, started_after)
        if problem is not None:
            report.first_break = Break(row["originator_id"], row["originator_version"], problem)
            return report
        if row["hash"] is None:
            report.unchained += 1
        else:
            report.chained += 1
        previous = bytes(row["hash"] or b"")
    heads.update(previous)
    report.head_digest = heads.hexdigest()
    return report


def _check(row: dict[str, Any], version: int, previous: bytes, started_after: int) -> str | None:
    if row["originator_version"] != version:
        return f"version {version} is missing (the next recorded is {row['originator_version']})"
    if row["hash"] is None:
        if row["notification_id"] > started_after:
            return "no hash, though it was recorded after chaining began"
        return None if previous == b"" else "no hash, though the event before it has one"
    state = bytes(row["state"] or b"")
    expected = event_hash(previous, row["originator_id"], version, row["topic"] or "", state)
    return None if bytes(row["hash"]) == expected else "its hash does not match its contents"


def _started_after(datastore: PostgresDatastore, table: str) -> int:
    names = chain_names(datastore.schema, table)
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(SQL("SELECT started_after FROM {schema}.{chain}").format(**names))
        row = cursor.fetchone()
    if row is None:
        msg = "the events are not chained yet: run `ledgerflow migrate`"
        raise LookupError(msg)
    return int(row["started_after"])


def _rows(datastore: PostgresDatastore, table: str) -> Iterator[dict[str, Any]]:
    statement: Composed = SQL(
        "SELECT originator_id, originator_version, topic, state, hash, notification_id "
        "FROM {schema}.{table} ORDER BY originator_id, originator_version"
    ).format(schema=Identifier(datastore.schema), table=Identifier(table))
    with (
        datastore.get_connection() as conn,
        conn.transaction(),
        conn.cursor(name="ledgerflow_verify_chains") as cursor,
    ):
        cursor.itersize = 2000
        cursor.execute(statement)
        yield from cursor
