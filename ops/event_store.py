"""The PostgreSQL event store as Ledgerflow configures it: the recorder that knows positions."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ops.audit_queries import AuditedRecorder
from ops.batch_reads import BatchReadRecorder
from ops.client_deadlines import apply_client_deadlines
from ops.hash_chain import ChainedRecorder
from ops.shared_log import SharedLogRecorder

RECORDER_TOPIC = "ops.event_store:PositionedPostgresRecorder"
MAPPER_TOPIC = "ops.decoded_log:SharedDecodingMapper"


class PositionedPostgresRecorder(
    AuditedRecorder,
    BatchReadRecorder,
    ChainedRecorder,
    SharedLogRecorder,
    PostgresApplicationRecorder,
):
    """The library's recorder, plus one aggregate's events with their global positions.

    Its insert function locks the events table like the library's plain insert path does.
    Without the lock (eventsourcing 9.5's function omits it), two writers (the API and the
    engine) can commit positions out of order, and a follower tailing the log skips the
    event that commits late: a projection row, a dispatch or a relayed event is lost.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        # The one place Ledgerflow code sees the library's datastore before its pool opens.
        apply_client_deadlines(datastore)
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
        # Tuples, not the pool's dict rows: building a dict per row cost a tenth of reading
        # a long history. Binary results carry each state as its bytes, not as hex text twice
        # its size to unescape: a long history's pages arrived in about half the time.
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(
                statement, (originator_id, after_version, wanted, wanted, limit), prepare=True
            )
            return [
                (position, StoredEvent(originator_id, version, topic, bytes(state)))
                for position, originator_id, version, topic, state in curs.fetchall()
            ]
