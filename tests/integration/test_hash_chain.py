"""The events' hash chain on real PostgreSQL: filled on insert, verified, broken by tampering,
and added to a store made before chaining without calling its old events tampered."""

import psycopg
import pytest
from psycopg.sql import SQL

from aggregates.run import TaskReport
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from ops.hash_chain import ChainReport, chain_names, verify_chains
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine

pytestmark = pytest.mark.integration

SPEC = {"name": "etl", "tasks": [{"name": "extract", "command": "echo e"}]}
TABLE = "ledgerflow_events"


def some_history(engine: Ledgerflow) -> None:
    engine.register_workflow("default", WorkflowSpec.model_validate(SPEC), engine.origin("alice"))
    run_id = engine.start_run("default", "etl", {}, engine.origin("alice"))[0].id
    engine.record_reports(
        [
            TaskReport(run_id, "default", "extract", 1, 1, "w1", "started"),
            TaskReport(run_id, "default", "extract", 1, 1, "w1", "succeeded", output={}),
        ]
    )


def verify(engine: Ledgerflow) -> ChainReport:
    return verify_chains(engine.factory.datastore, TABLE)  # type: ignore[attr-defined]


def execute(settings: Settings, statement: str) -> None:
    names = chain_names(settings.schema, TABLE)
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        conn.execute(SQL(statement).format(**names))


def test_every_event_is_chained_and_the_chains_hold(engine: Ledgerflow) -> None:
    some_history(engine)

    report = verify(engine)

    assert report.first_break is None
    assert (report.aggregates, report.unchained) == (2, 0)
    assert report.chained == engine.recorder.max_notification_id()
    assert len(report.head_digest) == 64


def test_an_edited_event_breaks_its_chain_at_that_version(
    engine: Ledgerflow, settings: Settings
) -> None:
    some_history(engine)
    execute(
        settings,
        "UPDATE {schema}.{table} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'alice', 'mallory'), 'UTF8') WHERE originator_version = 1",
    )

    report = verify(engine)

    assert report.first_break is not None
    assert report.first_break.version == 1
    assert "does not match" in report.first_break.problem


def test_a_deleted_event_breaks_its_chain(engine: Ledgerflow, settings: Settings) -> None:
    some_history(engine)
    execute(settings, "DELETE FROM {schema}.{table} WHERE originator_version = 2")

    report = verify(engine)

    assert report.first_break is not None
    assert "version 2 is missing" in report.first_break.problem


def test_a_store_made_before_chaining_is_migrated_and_its_old_events_are_unchained(
    settings: Settings,
) -> None:
    engine = build_engine(settings)
    some_history(engine)
    old = engine.recorder.max_notification_id() or 0
    engine.close()
    for statement in (
        "DROP TRIGGER {trigger} ON {schema}.{table}",
        "ALTER TABLE {schema}.{table} DROP COLUMN hash",
        "DROP TABLE {schema}.{chain}",
    ):
        execute(settings, statement)

    migrate(settings)
    engine = build_engine(settings)
    try:
        some_history_more = engine.start_run("default", "etl", {}, engine.origin("bob"))
        engine.retire_workflow("default", "etl", None, engine.origin("bob"))
        report = verify(engine)
    finally:
        engine.close()

    assert some_history_more[1]
    assert report.first_break is None
    assert report.unchained == old
    assert report.chained == 3  # the new run's two events and the workflow's retirement
