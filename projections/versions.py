"""Which version of each read model the store's tables were built by."""

from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

VERSIONS_TABLE = "projection_versions"


def create_versions_table(datastore: PostgresDatastore) -> None:
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (name text PRIMARY KEY, "
                "version integer NOT NULL, built_at timestamptz NOT NULL)"
            ).format(Identifier(datastore.schema), Identifier(VERSIONS_TABLE))
        )


def recorded_versions(datastore: PostgresDatastore) -> dict[str, int]:
    """Each read model's recorded version (none before `migrate` or a read model's first build)."""
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(
            SQL("SELECT to_regclass(%s) IS NOT NULL AS present"),
            (f'"{datastore.schema}"."{VERSIONS_TABLE}"',),
        )
        row = cursor.fetchone()
        if row is None or not row["present"]:
            return {}
        cursor.execute(
            SQL("SELECT name, version FROM {}.{}").format(
                Identifier(datastore.schema), Identifier(VERSIONS_TABLE)
            )
        )
        return {row["name"]: int(row["version"]) for row in cursor.fetchall()}


def record_version(cursor: Cursor[DictRow], schema: str, name: str, version: int) -> None:
    """Record, inside the caller's transaction, that `name`'s tables are at `version`."""
    cursor.execute(
        SQL(
            "INSERT INTO {}.{} (name, version, built_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, built_at = now()"
        ).format(Identifier(schema), Identifier(VERSIONS_TABLE)),
        (name, version),
    )
