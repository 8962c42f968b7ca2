"""Tables of a read model that apply a batch of changes and its log position in one commit."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Identifier

NO_FLUSH_WAIT = SQL("SET LOCAL synchronous_commit = off")
"""For commits of state derived from the log (ADR 23): they need not wait for the WAL flush.
A crash can lose the last ones, changes and position together; they are applied again from
the log. Only the events are the record, and they commit synchronously."""


class _SupersededError(Exception):
    pass


class ChangeTables(PostgresTrackingRecorder):
    """A read model's tables plus its tracked position, in the application's schema.

    Each batch of changes commits with its position in one transaction, so a crash never
    applies an event twice or skips one. The position advances by compare-and-set from the
    position the batch follows: a batch applied after another writer (or a rebuild swapped in
    new tables) is refused before it changes anything. Each change type has one SQL statement
    (`{schema}` is filled in), fed with `parameters(change)`.
    """

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        tracking_table: str,
        ddl: Sequence[str],
        statements: Mapping[type, str],
        parameters: Callable[[Any], dict[str, Any]],
        tables: Sequence[str],
    ) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table)
        if not datastore.single_row_tracking:
            msg = "read models need single-row tracking (POSTGRES_SINGLE_ROW_TRACKING=t)"
            raise ValueError(msg)
        schema = Identifier(datastore.schema)
        tracking = Identifier(tracking_table)
        self._first_position = (
            SQL(
                "INSERT INTO {0}.{1} (application_name, notification_id) "
                "VALUES (%(application)s, %(position)s) ON CONFLICT (application_name) DO NOTHING"
            )
            .format(schema, tracking)
            .as_string()
        )
        self._next_position = (
            SQL(
                "UPDATE {0}.{1} SET notification_id = %(position)s "
                "WHERE application_name = %(application)s AND notification_id = %(previous)s"
            )
            .format(schema, tracking)
            .as_string()
        )
        self.sql_create_statements.extend(SQL(text).format(schema=schema) for text in ddl)
        # Rendered once: psycopg would compose a `Composed` again on every execution.
        self._statements: dict[type, str] = {
            kind: SQL(text).format(schema=schema).as_string() for kind, text in statements.items()
        }
        self._parameters = parameters
        self.tables = (*tables, tracking_table)
        """Every table of the read model, its tracking table last."""

    def apply(self, changes: Sequence[Any], tracking: Tracking, previous: int) -> bool:
        """Apply `changes` and move the position from `previous` to `tracking`'s.

        False, with nothing changed, when the recorded position is not `previous`: another
        writer got there first, or a rebuild swapped the tables; follow on from the recorded one.
        """
        try:
            with (
                self.datastore.transaction(commit=True) as cursor,
                # One round trip for the position and one for all the changes, not one each.
                cursor.connection.pipeline() as pipeline,
            ):
                cursor.execute(NO_FLUSH_WAIT)
                cursor.execute(
                    self._next_position if previous else self._first_position,
                    {
                        "application": tracking.application_name,
                        "position": tracking.notification_id,
                        "previous": previous,
                    },
                    prepare=True,
                )
                pipeline.sync()
                if cursor.rowcount != 1:
                    raise _SupersededError
                for change in changes:
                    statement = self._statements[type(change)]
                    cursor.execute(statement, self._parameters(change), prepare=True)
        except _SupersededError:
            return False
        return True

    def reset(self, application_name: str) -> None:
        """Empty the read model and forget its position, so it is rebuilt from position 0."""
        schema = Identifier(self.datastore.schema)
        tables = SQL(", ").join(
            SQL("{}.{}").format(schema, Identifier(t)) for t in self.tables[:-1]
        )
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL("TRUNCATE {}").format(tables))
            cursor.execute(
                SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                    schema, Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )
