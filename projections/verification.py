"""Replay equals live: the rows a read model's replay from position 0 differs from its live
tables by, compared at the same log position."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

MAX_SHOWN = 10


@dataclass(frozen=True)
class TableDifference:
    """Rows of one table found only in the live tables, or only in the replay (as row text)."""

    table: str
    only_live: list[str]
    only_replayed: list[str]
    count: int
    """How many rows differ in all (only the first few are kept)."""


@dataclass(frozen=True)
class Verified:
    """What comparing one read model with its replay found, at the log position both reached."""

    name: str
    position: int
    rows: int
    differences: list[TableDifference] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences


def table_rows(cursor: Cursor[DictRow], schema: str, table: str) -> Counter[str]:
    """Every row of `schema.table` as PostgreSQL's text form of the row, counted."""
    cursor.execute(
        SQL("SELECT t::text AS row FROM {}.{} AS t").format(Identifier(schema), Identifier(table))
    )
    return Counter(row["row"] for row in cursor.fetchall())


def differences(table: str, live: Counter[str], replayed: Counter[str]) -> TableDifference | None:
    """The rows by which the two versions of `table` differ; None when they are equal."""
    only_live, only_replayed = live - replayed, replayed - live
    if not only_live and not only_replayed:
        return None
    return TableDifference(
        table=table,
        only_live=sorted(only_live.elements())[:MAX_SHOWN],
        only_replayed=sorted(only_replayed.elements())[:MAX_SHOWN],
        count=only_live.total() + only_replayed.total(),
    )


def compared(
    name: str,
    position: int,
    tables: Sequence[str],
    live: Sequence[Counter[str]],
    replayed: Sequence[Counter[str]],
) -> Verified:
    """The verdict on read model `name` from each of its `tables`' live and replayed rows."""
    found = [differences(t, a, b) for t, a, b in zip(tables, live, replayed, strict=True)]
    rows = sum(counter.total() for counter in live)
    return Verified(name, position, rows, [d for d in found if d is not None])
