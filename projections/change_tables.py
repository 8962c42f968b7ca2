"""Tables of a read model that apply a batch of changes and its log position in one commit."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier


class _AlreadyAppliedError(Exception):
    pass


class ChangeTables(PostgresTrackingRecorder):
    """A read model's tables plus its tracked position, in the application's schema.

    Each batch of changes commits with its position in one transaction, so a crash never
    applies an event twice or skips one; a batch whose position is already recorded is refused
    before it changes anything. Each change type has one SQL statement (`{schema}` is filled
    in), fed with `parameters(change)`.
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
        schema = Identifier(datastore.schema)
        self.sql_create_statements.extend(SQL(text).format(schema=schema) for text in ddl)
        self._statements: dict[type, Composed] = {
            kind: SQL(text).format(schema=schema) for kind, text in statements.items()
        }
        self._parameters = parameters
        self._tables = tables

    def apply(self, changes: Sequence[Any], tracking: Tracking) -> bool:
        """Apply `changes` and record `tracking`; False (and nothing changed) if already done."""
        try:
            with self.datastore.transaction(commit=True) as cursor:
                try:
                    self._insert_tracking(cursor, tracking)
                except (IntegrityError, psycopg.errors.UniqueViolation):
                    raise _AlreadyAppliedError from None
                for change in changes:
                    statement = self._statements[type(change)]
                    cursor.execute(statement, self._parameters(change), prepare=True)
        except _AlreadyAppliedError:
            return False
        return True

    def reset(self, application_name: str) -> None:
        """Empty the read model and forget its position, so it is rebuilt from position 0."""
        schema = Identifier(self.datastore.schema)
        tables = SQL(", ").join(SQL("{}.{}").format(schema, Identifier(t)) for t in self._tables)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL("TRUNCATE {}").format(tables))
            cursor.execute(
                SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                    schema, Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )
