"""`ledgerflow migrate`: creates the schema and every table once, safely beside other migrators."""

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from engine.application import Ledgerflow
from ops.client_deadlines import TCP_DEADLINES
from ops.settings import Settings, SettingsError
from ops.system import (
    CANCEL_RELAY_TRACKING_TABLE,
    DISPATCHER_TRACKING_TABLE,
    EVENT_RELAY_TRACKING_TABLE,
    WEBHOOK_TRACKING_TABLE,
    build_rebuilder,
    build_tracking,
    build_webhook_store,
    read_models,
)

# Any constant works: it only has to be the same for every process that migrates.
_MIGRATION_LOCK = 0x1EDF_0001


def migrate(settings: Settings) -> None:
    """Create the schema, the events table and the followers' tables (idempotent); read
    models built by another version (or not yet) are rebuilt from the log.

    Several processes creating tables at once fail ("tuple concurrently updated"), so every
    migrator holds one advisory lock; services start with table creation off.
    """
    if settings.database_url is None:
        msg = "no database URL: set LEDGERFLOW_DATABASE_URL or run `ledgerflow up`"
        raise SettingsError(msg)
    conninfo = make_conninfo(settings.database_url, **{**TCP_DEADLINES, "connect_timeout": 10})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(settings.schema)))
            engine = Ledgerflow(env={**settings.eventsourcing_env(), "CREATE_TABLE": "y"})
            try:
                build_tracking(engine, DISPATCHER_TRACKING_TABLE).create_table()
                build_tracking(engine, CANCEL_RELAY_TRACKING_TABLE).create_table()
                build_tracking(engine, EVENT_RELAY_TRACKING_TABLE).create_table()
                build_tracking(engine, WEBHOOK_TRACKING_TABLE).create_table()
                build_webhook_store(engine).create_tables()
                build_rebuilder(engine).ensure_current(read_models())
            finally:
                engine.close()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
