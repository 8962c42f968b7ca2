"""What a read model is: its name, schema version, tables and the changes each event makes."""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from projections.change_tables import ChangeTables


@dataclass(frozen=True)
class ReadModel:
    """One projection of the log, as the follower, the rebuild and the status report see it.

    `version` names the shape and meaning of the tables: changing the DDL or what an event
    changes bumps it, and a store recorded at another version is rebuilt from position 0.
    """

    name: str
    version: int
    tables: Callable[[PostgresDatastore], ChangeTables]
    changes_for: Callable[[object], Sequence[Any]]
    topics: Collection[str]
