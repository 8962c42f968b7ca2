"""The PostgreSQL event store as Ledgerflow configures it: the recorder that knows positions."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from ops.audit_queries import AuditedRecorder
from ops.hash_chain import ChainedRecorder

RECORDER_TOPIC = "ops.event_store:PositionedPostgresRecorder"


class PositionedPostgresRecorder(AuditedRecorder, ChainedRecorder, PostgresApplicationRecorder):
    """The library's recorder, plus one aggregate's events with their global positions.

    Its insert function locks the events table like the library's plain insert path does.
    Without the lock (eventsourcing 9.5's function omits it), two writers (the API and the
    engine) can commit positions out of order, and a follower tailing the log skips the
    event that commits late: a projection row, a dispatch or a relayed event is lost.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        if not datastore.enable_db_functions:
            return
        statement = self.sql_create_statements[self.create_insert_function_statement_index]
        text = statement.as_string(None)
        unlocked = "    NOTIFY "
        if unlocked not in text:
            msg = "eventsourcing's insert function changed: check it still orders positions"
            raise RuntimeError(msg)
        schema = Identifier(datastore.schema).as_string(None)
        table = Identifier(self.events_table_name).as_string(None)
        lock = f"    LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
        locked = text.replace(unlocked, lock + unlocked, 1)
        # Built from the library's own statement and quoted identifiers only.
        self.sql_create_statements[self.create_insert_function_statement_index] = SQL(
            locked
        ).format()

    def select_positioned_events(
        self,
        originator_id: UUID,
        *,
        after_version: int,
        limit: int,
        topics: Sequence[str] = (),
    ) -> Sequence[tuple[int, StoredEvent]]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = %s AND originator_version > %s "
            "AND (cardinality(%s::text[]) = 0 OR topic = ANY(%s::text[])) "
            "ORDER BY originator_version LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        wanted = list(topics)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                statement, (originator_id, after_version, wanted, wanted, limit), prepare=True
            )
            return [(row["notification_id"], _stored(row)) for row in curs.fetchall()]


def _stored(row: DictRow) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )
