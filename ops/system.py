"""The composition root: builds the engine, trackers and NATS connections from settings."""

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresFactory, PostgresTrackingRecorder
from eventsourcing.utils import Environment
from nats.aio.client import Client as NatsClient
from psycopg import Cursor
from psycopg.rows import DictRow

from engine.application import Ledgerflow
from gateways.webhooks.store import PostgresWebhookStore
from ops.client_deadlines import apply_client_deadlines
from ops.settings import Settings, SettingsError
from projections.attempts import ATTEMPTS
from projections.attempts_tables import AttemptsTables
from projections.attempts_view import AttemptsView
from projections.change_tables import NO_FLUSH_WAIT, ChangeTables
from projections.read_model import ReadModel
from projections.rebuild import Rebuilder
from projections.runs.projection import RUNS
from projections.runs.tables import RunsTables
from projections.runs.view import RunsView
from projections.schedules.projection import SCHEDULES
from projections.schedules.view import SchedulesView
from projections.statistics.projection import STATISTICS
from projections.statistics.tables import StatisticsTables
from projections.statistics.view import StatisticsView
from projections.status import ProjectionStatusReader
from projections.tracked_projection import TrackedProjection

logger = logging.getLogger(__name__)

DISPATCHER_TRACKING_TABLE = "dispatcher_tracking"
CANCEL_RELAY_TRACKING_TABLE = "cancel_relay_tracking"
EVENT_RELAY_TRACKING_TABLE = "event_relay_tracking"
WEBHOOK_TRACKING_TABLE = "webhook_tracking"


def build_engine(settings: Settings, statement_timeout: float | None = None) -> Ledgerflow:
    """The one Ledgerflow Application on PostgreSQL (its tables exist: `migrate` made them).

    With `statement_timeout` (seconds), PostgreSQL cancels any statement that runs longer, so
    a stuck query becomes an error (a 503 in the API) instead of a hang. It is passed the one
    way the library's pool lets us, libpq's PGOPTIONS, so it holds for the whole process.
    """
    if statement_timeout is not None:
        os.environ["PGOPTIONS"] = f"-c statement_timeout={round(statement_timeout * 1000)}"
    return Ledgerflow(env=settings.eventsourcing_env())


class _FollowerTracking(PostgresTrackingRecorder):
    """A follower's position, which commits without waiting for the WAL flush: one lost in a
    crash is an older position, and the follower's effects are idempotent (ADR 23)."""

    def _insert_tracking(self, curs: Cursor[DictRow], tracking: Tracking) -> None:
        curs.execute(NO_FLUSH_WAIT)
        super()._insert_tracking(curs, tracking)


def build_tracking(engine: Ledgerflow, table: str) -> PostgresTrackingRecorder:
    """A follower's position table, sharing the engine's connection pool."""
    return _FollowerTracking(_datastore(engine), tracking_table_name=table)


def build_webhook_store(engine: Ledgerflow) -> PostgresWebhookStore:
    """Webhook secrets and delivery logs, in the engine's schema and connection pool."""
    return PostgresWebhookStore(_datastore(engine))


def build_attempts_tables(engine: Ledgerflow) -> AttemptsTables:
    """The attempts read model's tables, in the engine's schema and connection pool."""
    return AttemptsTables(_datastore(engine))


def build_attempts_view(engine: Ledgerflow) -> AttemptsView:
    return AttemptsView(_datastore(engine), engine.name)


def build_runs_tables(engine: Ledgerflow) -> RunsTables:
    """The runs and workflows read model's tables, in the engine's schema and connection pool."""
    return RunsTables(_datastore(engine))


def build_runs_view(engine: Ledgerflow) -> RunsView:
    return RunsView(_datastore(engine), engine.name)


def build_statistics_tables(engine: Ledgerflow) -> StatisticsTables:
    """The per-workflow statistics read model's tables, in the engine's schema and pool."""
    return StatisticsTables(_datastore(engine))


def build_statistics_view(engine: Ledgerflow) -> StatisticsView:
    return StatisticsView(_datastore(engine), engine.name)


def build_schedules_view(engine: Ledgerflow) -> SchedulesView:
    return SchedulesView(_datastore(engine), engine.name)


def _datastore(engine: Ledgerflow) -> PostgresDatastore:
    factory = engine.factory
    if not isinstance(factory, PostgresFactory):
        msg = "followers and projections need the PostgreSQL event store"
        raise SettingsError(msg)
    datastore: PostgresDatastore = factory.datastore
    return datastore


async def connect_nats(settings: Settings, name: str) -> NatsClient:
    """A NATS connection that keeps reconnecting for as long as the process lives."""
    if settings.nats_url is None:
        msg = "no NATS URL: set LEDGERFLOW_NATS_URL or run `ledgerflow up`"
        raise SettingsError(msg)

    client = NatsClient()

    async def disconnected() -> None:
        if not (client.is_closed or client.is_draining):  # our own shutdown is no news
            logger.warning("%s: disconnected from NATS", name)

    async def reconnected() -> None:
        logger.info("%s: reconnected to NATS", name)

    await client.connect(
        settings.nats_url,
        name=f"ledgerflow-{name}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,  # type: ignore[arg-type]  # nats-py sleeps on a float; its hint says int
        connect_timeout=5,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
    )
    return client


def read_models() -> tuple[ReadModel, ...]:
    """Every projection of the log, in the order they are rebuilt and reported."""
    return (ATTEMPTS, RUNS, STATISTICS, SCHEDULES)


def build_tables(engine: Ledgerflow, model: ReadModel) -> ChangeTables:
    """`model`'s tables (and tracking table) in the engine's schema."""
    return model.tables(_datastore(engine))


READ_MODEL_LINGER_SECONDS = 0.05
"""How long a read model's batch waits for more events to join it. Each batch is a commit of
every read model (its position moves even when no event concerns it): under load, batches of
one or two events cost a commit per event per read model. Lists are eventually consistent;
single runs are read from their events, so no answer waits on this (ADR 26)."""


def build_projection(
    engine: Ledgerflow, model: ReadModel, applied: Callable[[Sequence[Any]], None] | None = None
) -> TrackedProjection:
    """The projection that keeps `model`'s tables up to date from the engine's log; `applied`
    hears of each batch of changes it commits."""
    return TrackedProjection(
        model.name,
        build_tables(engine, model),
        changes_for=model.changes_for,
        topics=model.topics,
        log=engine.recorder,
        decode=engine.mapper.to_domain_event,
        application_name=engine.name,
        linger_seconds=READ_MODEL_LINGER_SECONDS,
        applied=applied,
    )


def build_rebuilder(engine: Ledgerflow) -> Rebuilder:
    """Rebuilds read models from the engine's log, online (see `Rebuilder`)."""
    return Rebuilder(
        _datastore(engine),
        log=engine.recorder,
        decode=engine.mapper.to_domain_event,
        application_name=engine.name,
        scratch=lambda schema: _datastore_in(engine, schema),
    )


def _datastore_in(engine: Ledgerflow, schema: str) -> PostgresDatastore:
    """A small pool on the engine's database whose tables live in `schema`."""
    env = {**engine.env, "POSTGRES_SCHEMA": schema, "POSTGRES_POOL_SIZE": "2"}
    factory = type(engine.factory)(Environment(engine.name, env))
    if not isinstance(factory, PostgresFactory):
        msg = "read models need the PostgreSQL event store"
        raise SettingsError(msg)
    datastore: PostgresDatastore = factory.datastore
    apply_client_deadlines(datastore)
    return datastore


def build_projection_status(engine: Ledgerflow) -> ProjectionStatusReader:
    """Reads each read model's position and lag behind the engine's log."""
    return ProjectionStatusReader(
        read_models(),
        _datastore(engine),
        log=engine.recorder,
        decode=engine.mapper.to_domain_event,
        application_name=engine.name,
        now=engine.clock,
    )
