"""Online rebuild of read models: replay the log into fresh tables beside the live ones, then
swap them in with one short transaction."""

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from eventsourcing.persistence import ApplicationRecorder, Notification, Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections.change_tables import ChangeTables
from projections.follower import advisory_lock_key
from projections.read_model import ReadModel
from projections.verification import Verified, compared, table_rows
from projections.versions import create_versions_table, record_version, recorded_versions

logger = logging.getLogger(__name__)

REBUILD_BATCH_SIZE = 2000
SWAP_LOCK_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Rebuilt:
    """What one rebuild did: the position its new tables start from, and how long it took."""

    name: str
    version: int
    position: int
    events: int
    seconds: float


class Rebuilder:
    """Rebuilds read models from position 0 while the live tables keep serving.

    The new tables are filled in a scratch schema, then one transaction locks the live tables,
    drops them and moves the new ones in (readers wait milliseconds, never see a half-built
    table). A follower writing the old tables finds its position moved (compare-and-set in
    `ChangeTables.apply`) and follows on from the new tables' position. One rebuild at a time
    per store, behind an advisory lock.
    """

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        log: ApplicationRecorder,
        decode: Callable[[Notification], object],
        application_name: str,
        scratch: Callable[[str], PostgresDatastore],
        batch_size: int = REBUILD_BATCH_SIZE,
    ) -> None:
        """`scratch(schema)` opens a datastore on the same database for the schema named."""
        self._datastore = datastore
        self._scratch = scratch
        self._log = log
        self._decode = decode
        self._application_name = application_name
        self._batch_size = batch_size
        self._lock_key = advisory_lock_key(f"{datastore.schema}.projections.rebuild")

    def ensure_current(self, models: Sequence[ReadModel]) -> list[Rebuilt]:
        """Rebuild each read model whose tables another version built (or none did yet)."""
        with self._exclusive():
            recorded = recorded_versions(self._datastore)
            return [self._rebuild(m) for m in models if recorded.get(m.name) != m.version]

    def rebuild(self, models: Sequence[ReadModel]) -> list[Rebuilt]:
        """Rebuild each of `models` from position 0, whatever version built its tables."""
        with self._exclusive():
            return [self._rebuild(model) for model in models]

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        create_versions_table(self._datastore)
        with self._datastore.get_connection() as lock:
            lock.execute("SELECT pg_advisory_lock(%s)", (self._lock_key,))
            try:
                yield
            finally:
                lock.execute("SELECT pg_advisory_unlock(%s)", (self._lock_key,))

    def _rebuild(self, model: ReadModel) -> Rebuilt:
        started = time.perf_counter()
        schema = f"{self._datastore.schema}_rebuild_{model.name}"[:63]
        self._execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}"), schema)
        scratch = self._scratch(schema)
        try:
            tables = model.tables(scratch)
            tables.create_table()
            position, events = self._replay(model, tables)
            self._swap(model, tables, schema)
        finally:
            scratch.close()
            self._execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE"), schema)
        seconds = time.perf_counter() - started
        rebuilt = Rebuilt(model.name, model.version, position, events, seconds)
        logger.info(
            "rebuilt read model %s (version %d) from %d events to position %d in %.1f s",
            model.name, model.version, events, position, rebuilt.seconds,
        )  # fmt: skip
        return rebuilt

    def verify(self, models: Sequence[ReadModel]) -> list[Verified]:
        """Replay each of `models` from position 0 into scratch tables (never swapped in) and
        compare them row by row with the live tables at the live tables' position."""
        with self._exclusive():
            return [self._verify(model) for model in models]

    def _verify(self, model: ReadModel) -> Verified:
        schema = f"{self._datastore.schema}_verify_{model.name}"[:63]
        self._execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}"), schema)
        scratch = self._scratch(schema)
        try:
            tables = model.tables(scratch)
            tables.create_table()
            compared_tables = tables.tables[:-1]
            with self._datastore.get_connection() as conn, conn.transaction():
                cursor = conn.cursor()
                # One snapshot: the live rows and the position they were built to agree.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                position = _live_position(cursor, self._datastore.schema, tables)
                live = [table_rows(cursor, self._datastore.schema, t) for t in compared_tables]
            self._replay(model, tables, stop=position)
            with scratch.transaction(commit=False) as cursor:
                replayed = [table_rows(cursor, schema, t) for t in compared_tables]
        finally:
            scratch.close()
            self._execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE"), schema)
        return compared(model.name, position, compared_tables, live, replayed)

    def _replay(
        self, model: ReadModel, tables: ChangeTables, stop: int | None = None
    ) -> tuple[int, int]:
        """Apply the log to `tables` up to `stop`, else up to its head as it moves;
        (position reached, events)."""
        position = events = 0
        topics = sorted(model.topics)
        while (
            head := stop if stop is not None else self._log.max_notification_id() or 0
        ) > position:
            batch = self._log.select_notifications(
                start=position + 1, limit=self._batch_size, stop=head, topics=topics
            )
            # A short batch holds every matching event up to the head: the rest only advance.
            last = batch[-1].id if len(batch) == self._batch_size else head
            changes = [c for n in batch for c in model.changes_for(self._decode(n))]
            if not tables.apply(changes, Tracking(self._application_name, last), position):
                msg = f"the scratch tables of {model.name} were written by someone else"
                raise RuntimeError(msg)
            position, events = last, events + len(batch)
        return position, events

    def _swap(self, model: ReadModel, tables: ChangeTables, scratch: str) -> None:
        live = Identifier(self._datastore.schema)
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT_SECONDS}s'"))
            # The tracking table first: a follower's batch writes it first, so taking it first
            # waits for that batch instead of deadlocking with it.
            tracking_first = [tables.tables[-1], *tables.tables[:-1]]
            present = _present(cursor, self._datastore.schema, tracking_first)
            if present:
                targets = SQL(", ").join(SQL("{}.{}").format(live, Identifier(t)) for t in present)
                cursor.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(targets))
                cursor.execute(SQL("DROP TABLE {}").format(targets))
            for table in tables.tables:
                cursor.execute(
                    SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                        Identifier(scratch), Identifier(table), live
                    )
                )
            record_version(cursor, self._datastore.schema, model.name, model.version)

    def _execute(self, statement: SQL, schema: str) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(statement.format(Identifier(schema)))


def _live_position(cursor: Cursor[DictRow], schema: str, tables: ChangeTables) -> int:
    """The live read model's tracked position, in the caller's snapshot (0: none yet)."""
    cursor.execute(
        SQL("SELECT to_regclass(%s) IS NOT NULL AS present"),
        (f'"{schema}"."{tables.tracking_table_name}"',),
    )
    row = cursor.fetchone()
    if row is None or not row["present"]:
        return 0
    cursor.execute(
        SQL("SELECT max(notification_id) AS position FROM {}.{}").format(
            Identifier(schema), Identifier(tables.tracking_table_name)
        )
    )
    row = cursor.fetchone()
    return int(row["position"] or 0) if row else 0


def _present(cursor: Cursor[DictRow], schema: str, tables: Sequence[str]) -> list[str]:
    """The `tables` that exist in `schema`, in the order given."""
    cursor.execute(
        "SELECT t FROM unnest(%s::text[]) WITH ORDINALITY AS named(t, i) "
        "WHERE to_regclass(format('%%I.%%I', %s::text, t)) IS NOT NULL ORDER BY i",
        (list(tables), schema),
    )
    return [row["t"] for row in cursor.fetchall()]
