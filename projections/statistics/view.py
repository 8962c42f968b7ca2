"""Queries on the statistics read model: a workflow's hour or day buckets, newest first."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from projections.positions import tracked_position, wait_until_processed
from projections.statistics.histogram import percentile
from projections.statistics.tables import TRACKING_TABLE

DEFAULT_LIMIT = 50


class Granularity(StrEnum):
    """How long a bucket is: one UTC hour or one UTC day."""

    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True)
class BucketRow:
    """The runs of one workflow that finished in one hour or day (at least one did)."""

    tenant: str
    workflow: str
    granularity: Granularity
    bucket_start: datetime
    finished: int
    succeeded: int
    failed: int
    cancelled: int
    duration_sum_ms: int
    duration_max_ms: int
    histogram: tuple[int, ...]

    @property
    def success_rate(self) -> float:
        """Succeeded runs out of finished ones (0-1)."""
        return self.succeeded / self.finished if self.finished else 0.0

    @property
    def mean_ms(self) -> int:
        """The mean duration, to the millisecond."""
        return round(self.duration_sum_ms / self.finished) if self.finished else 0

    def percentile_ms(self, percent: int) -> int:
        """An upper estimate of the `percent`-th percentile duration (see `histogram`)."""
        return percentile(self.histogram, percent, self.duration_max_ms) or 0


@dataclass(frozen=True)
class StatisticsQuery:
    """Which buckets of a workflow to list, newest first.

    The window is on bucket starts and half-open: `since` <= bucket_start < `until`. `before`
    continues a listing: only buckets that start before it.
    """

    granularity: Granularity = Granularity.HOUR
    since: datetime | None = None
    until: datetime | None = None
    before: datetime | None = None
    limit: int = DEFAULT_LIMIT


_COLUMNS = SQL(
    "tenant, workflow, granularity, bucket_start, finished, succeeded, failed, cancelled, "
    "duration_sum_ms, duration_max_ms, histogram"
)


class StatisticsView:
    """Read-only access to the statistics table of one schema (eventually consistent)."""

    def __init__(self, datastore: PostgresDatastore, application_name: str) -> None:
        self._datastore = datastore
        self._application_name = application_name
        self._schema = Identifier(datastore.schema)

    def buckets(self, tenant: str, workflow: str, query: StatisticsQuery) -> list[BucketRow]:
        """Up to `query.limit` buckets of `tenant`'s `workflow`, newest first (keyset paged)."""
        given = (
            (query.since, SQL("bucket_start >= %(since)s")),
            (query.until, SQL("bucket_start < %(until)s")),
            (query.before, SQL("bucket_start < %(before)s")),
        )
        conditions = [
            SQL("tenant = %(tenant)s AND workflow = %(workflow)s AND granularity = %(granularity)s")
        ]
        conditions.extend(condition for value, condition in given if value is not None)
        statement = SQL(
            "SELECT {columns} FROM {schema}.workflow_statistics WHERE {conditions} "
            "ORDER BY bucket_start DESC LIMIT %(limit)s"
        ).format(columns=_COLUMNS, schema=self._schema, conditions=SQL(" AND ").join(conditions))
        params: dict[str, Any] = {
            "tenant": tenant,
            "workflow": workflow,
            "granularity": query.granularity.value,
            "since": query.since,
            "until": query.until,
            "before": query.before,
            "limit": query.limit,
        }
        with self._datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            rows = cursor.fetchall()
        return [_row(row) for row in rows]

    def position(self) -> int:
        """The last position of the log the read model has processed (0 before the first)."""
        return tracked_position(self._datastore, TRACKING_TABLE, self._application_name)

    def wait_for(self, position: int, timeout: float = 10.0) -> None:
        """Block until the read model has processed `position`; TimeoutError after `timeout`."""
        wait_until_processed(self.position, position, timeout, "statistics read model")


def _row(row: dict[str, Any]) -> BucketRow:
    values = {
        **row,
        "granularity": Granularity(row["granularity"]),
        "histogram": tuple(row["histogram"]),
    }
    return BucketRow(**values)
