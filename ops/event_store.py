"""The PostgreSQL event store as Ledgerflow configures it: the recorder that knows positions."""

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

RECORDER_TOPIC = "ops.event_store:PositionedPostgresRecorder"


class PositionedPostgresRecorder(PostgresApplicationRecorder):
    """The library's recorder, plus one aggregate's events with their global positions."""

    def select_positioned_events(
        self, originator_id: UUID, *, after_version: int, limit: int
    ) -> Sequence[tuple[int, StoredEvent]]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = %s AND originator_version > %s "
            "ORDER BY originator_version LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (originator_id, after_version, limit), prepare=True)
            return [
                (
                    row["notification_id"],
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    ),
                )
                for row in curs.fetchall()
            ]
