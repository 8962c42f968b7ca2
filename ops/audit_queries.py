"""The event store's audit query: a tenant's events across aggregates, by actor, type and time."""

from collections.abc import Sequence

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from engine.history import AuditFilter

_AUDIT_QUERY = """
SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state
FROM {schema}.{table} AS e, LATERAL (SELECT convert_from(e.state, 'UTF8')::json AS doc) AS s
WHERE e.notification_id > %(after)s
  AND s.doc ->> 'tenant' = %(tenant)s
  AND (%(actor)s::text IS NULL OR s.doc ->> 'actor' = %(actor)s::text)
  AND (cardinality(%(topics)s::text[]) = 0 OR e.topic = ANY(%(topics)s::text[]))
  AND (%(since)s::timestamptz IS NULL
       OR (s.doc -> 'timestamp' ->> '_data_')::timestamptz >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL
       OR (s.doc -> 'timestamp' ->> '_data_')::timestamptz < %(until)s::timestamptz)
ORDER BY e.notification_id
LIMIT %(limit)s
"""


class AuditedRecorder(PostgresApplicationRecorder):
    """Lists a tenant's events in log order, filtered on the metadata in their JSON state."""

    def select_audit_events(
        self, tenant: str, where: AuditFilter, *, after_position: int, limit: int
    ) -> Sequence[tuple[int, StoredEvent]]:
        """A scan in log order (the primary key) that stops at `limit` matches; the metadata
        is read from each event's JSON state, which is neither compressed nor encrypted
        (ADR 13)."""
        statement = SQL(_AUDIT_QUERY).format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )
        params = {
            "after": after_position,
            "tenant": tenant,
            "actor": where.actor,
            "since": where.since,
            "until": where.until,
            "topics": list(where.topics),
            "limit": limit,
        }
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [(row["notification_id"], stored_event(row)) for row in curs.fetchall()]


def stored_event(row: DictRow) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )
