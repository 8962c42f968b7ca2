"""Where a read model is in the log: its tracked position, and waiting until it gets somewhere."""

import time
from collections.abc import Callable

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier


def tracked_position(datastore: PostgresDatastore, tracking_table: str, application: str) -> int:
    """The last position of the log a read model has processed (0 before the first)."""
    statement = SQL(
        "SELECT max(notification_id) AS position FROM {schema}.{tracking} "
        "WHERE application_name = %s"
    ).format(schema=Identifier(datastore.schema), tracking=Identifier(tracking_table))
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, (application,), prepare=True)
        row = cursor.fetchone()
    return int(row["position"] or 0) if row else 0


def wait_until_processed(
    read_position: Callable[[], int], position: int, timeout: float, what: str
) -> None:
    """Block until `read_position()` reaches `position`; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while read_position() < position:
        if time.monotonic() > deadline:
            msg = f"{what} did not reach position {position} in {timeout:g} s"
            raise TimeoutError(msg)
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
