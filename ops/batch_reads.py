"""The event store's batch read: the events of many aggregates in one round trip."""

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

_BATCH_QUERY = """
SELECT originator_id, originator_version, topic, state FROM {schema}.{table}
WHERE originator_id = ANY(%s::uuid[]) ORDER BY originator_id, originator_version
"""


class BatchReadRecorder(PostgresApplicationRecorder):
    """Reads several aggregates' events at once, so the scheduler loads the workflows of a
    hundred due ticks with one query instead of a hundred (see ADR 11)."""

    def select_events_of(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        """Every event of each aggregate, grouped by aggregate, oldest version first."""
        statement = SQL(_BATCH_QUERY).format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, (list(originator_ids),), prepare=True)
            return [
                StoredEvent(originator_id, version, topic, bytes(state))
                for originator_id, version, topic, state in curs.fetchall()
            ]
