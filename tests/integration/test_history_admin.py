"""`ledgerflow audit verify`, `replay --verify`, `export` and `import` on real PostgreSQL."""

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from aggregates.run import TaskReport
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from engine.audit import AuditQuery
from ops.cli import main
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine, build_tables, read_models
from projections.verification import table_rows
from tests.integration.test_hash_chain import TABLE, some_history, verify
from tests.integration.test_http_fuzzing import _project as project_everything

pytestmark = pytest.mark.integration

HEADER = '{"format": "ledgerflow-events", "format_version": 1}'


Outcome = tuple[int, str, str]
Cli = Callable[..., Outcome]


@pytest.fixture
def ledgerflow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`ledgerflow(settings, *argv)` runs `ledgerflow ARGV` on the store of `settings`: its
    exit code, stdout and stderr."""

    def run(settings: Settings, *argv: str) -> Outcome:
        monkeypatch.setenv("LEDGERFLOW_DATABASE_URL", str(settings.database_url))
        monkeypatch.setenv("LEDGERFLOW_DATABASE_SCHEMA", settings.schema)
        monkeypatch.setenv("LEDGERFLOW_DATA_DIR", "/nonexistent-ledgerflow")
        code = main(list(argv))
        printed = capsys.readouterr()
        return code, printed.out, printed.err

    return run


def test_audit_verify_passes_then_reports_the_first_break(
    engine: Ledgerflow,
    settings: Settings,
    ledgerflow: Cli,
) -> None:
    some_history(engine)
    good = ledgerflow(settings, "audit", "verify")
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        conn.execute(
            SQL(
                "UPDATE {}.ledgerflow_events SET state = state || ' '::bytea "
                "WHERE notification_id = 2"
            ).format(Identifier(settings.schema))
        )
    bad = ledgerflow(settings, "audit", "verify")

    assert good[0] == 0
    assert "every chain holds" in good[1]
    assert bad[0] == 1
    assert "BROKEN at " in bad[1]
    assert "version 1: its hash does not match its contents" in bad[1]


async def test_replay_verify_matches_live_read_models_and_reports_a_difference(
    engine: Ledgerflow,
    settings: Settings,
    ledgerflow: Cli,
) -> None:
    some_history(engine)
    roomy = build_engine(replace(settings, pool_size=12))  # a follower per read model
    try:
        await project_everything(roomy)
    finally:
        roomy.close()
    same = ledgerflow(settings, "replay", "--verify")
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        conn.execute(SQL("DELETE FROM {}.runs").format(Identifier(settings.schema)))
    differs = ledgerflow(settings, "replay", "--verify", "runs")

    assert same[0] == 0, same
    assert "runs: replay matches" in same[1]
    assert differs[0] == 1
    assert "runs: replay DIFFERS" in differs[1]
    assert "only replayed:" in differs[1]


def test_an_exported_run_imports_into_another_store_once(
    engine: Ledgerflow,
    settings: Settings,
    postgres_url: str,
    tmp_path: Path,
    ledgerflow: Cli,
) -> None:
    some_history(engine)
    run_id = engine.audit("default", AuditQuery(types=["RunStarted"]))[0].aggregate_id
    file = tmp_path / "run.jsonl"
    exported = ledgerflow(settings, "export", "--run", str(run_id), "-o", str(file))
    other = Settings(database_url=postgres_url, schema=f"{settings.schema}b", pool_size=2)
    migrate(other)

    first = ledgerflow(other, "import", str(file))
    again = ledgerflow(other, "import", str(file))

    header = json.loads(file.read_text().splitlines()[0])
    assert (exported[0], header["format"]) == (0, "ledgerflow-events")
    assert first[0:2] == (0, "imported 5 event(s); 0 already present\n")
    assert again[0:2] == (0, "imported 0 event(s); 5 already present\n")
    copy = build_engine(other)
    try:
        assert copy.get_run("default", run_id).status == "succeeded"
    finally:
        copy.close()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["nope"], "line 1: not a Ledgerflow export"),
        (["{}", "{}"], "line 1: not a Ledgerflow export"),
        ([HEADER, "[1]"], "line 2: not a JSON object"),
        (
            [HEADER, '{"aggregate_id": "x", "version": 1, "topic": "t", "state": "{}"}'],
            "line 2: `aggregate_id` is not a UUID",
        ),
        (
            [
                HEADER,
                '{"aggregate_id": "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10", "version": 2, '
                '"topic": "t", "state": "{}"}',
            ],
            "version 1 is missing",
        ),
    ],
)
def test_a_malformed_import_is_refused_with_the_line_and_writes_nothing(
    settings: Settings,
    tmp_path: Path,
    ledgerflow: Cli,
    lines: list[str],
    message: str,
) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text("\n".join(lines) + "\n")

    code, _, err = ledgerflow(settings, "import", str(file))

    assert code == 1
    assert message in err
    engine = build_engine(settings)
    try:
        assert engine.recorder.max_notification_id() is None
    finally:
        engine.close()


def test_a_duplicated_line_is_refused_and_writes_nothing(
    engine: Ledgerflow,
    settings: Settings,
    tmp_path: Path,
    ledgerflow: Cli,
) -> None:
    engine.register_workflow(
        "default",
        WorkflowSpec.model_validate({"name": "w", "tasks": [{"name": "a", "command": "x"}]}),
        engine.origin("a"),
    )
    file = tmp_path / "w.jsonl"
    ledgerflow(settings, "export", "--workflow", "w", "-o", str(file))
    lines = file.read_text().splitlines()
    file.write_text("\n".join([*lines, lines[1]]) + "\n")

    code, _, err = ledgerflow(settings, "import", str(file))

    assert code == 1
    assert "line 3: repeats line 2" in err


@pytest.fixture
def fresh_database(postgres_url: str, unique_name: str) -> Iterator[Settings]:
    """A database of its own on the session's server (nothing shared with the test's store),
    migrated; dropped afterwards."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE DATABASE {}").format(Identifier(unique_name)))
    fresh = Settings(
        database_url=make_conninfo(postgres_url, dbname=unique_name),
        schema="ledgerflow",
        pool_size=12,  # a follower per read model
    )
    migrate(fresh)
    yield fresh
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(SQL("DROP DATABASE {} WITH (FORCE)").format(Identifier(unique_name)))


def a_workflow_with_finished_runs(engine: Ledgerflow) -> None:
    """`etl` with a run that succeeded, one that failed and was retried, and one cancelled."""
    some_history(engine)
    failed = engine.start_run("default", "etl", {"day": 2}, engine.origin("bob"))[0].id
    engine.record_reports(
        [
            TaskReport(failed, "default", "extract", 1, 1, "w1", "started"),
            TaskReport(failed, "default", "extract", 1, 1, "w1", "failed", error="exit 1"),
        ]
    )
    engine.retry_run("default", failed, engine.origin("bob"))
    cancelled = engine.start_run("default", "etl", {"day": 3}, engine.origin("carol"))[0].id
    engine.cancel_run("default", cancelled, "not today", engine.origin("carol"))


def histories(engine: Ledgerflow) -> dict[UUID, list[tuple[int, str, bytes, bytes]]]:
    """Every aggregate's stored events (version, topic, state, chained hash), by aggregate."""
    datastore: PostgresDatastore = engine.factory.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(
            SQL(
                "SELECT originator_id, originator_version, topic, state, hash FROM {}.{} "
                "ORDER BY originator_id, originator_version"
            ).format(Identifier(datastore.schema), Identifier(TABLE))
        )
        rows = cursor.fetchall()
    found: dict[UUID, list[tuple[int, str, bytes, bytes]]] = {}
    for row in rows:
        found.setdefault(row["originator_id"], []).append(
            (row["originator_version"], row["topic"], bytes(row["state"]), bytes(row["hash"]))
        )
    return found


def read_model_rows(engine: Ledgerflow) -> dict[str, Counter[str]]:
    """Every read model table's rows (not their tracked positions, which are the log's)."""
    datastore: PostgresDatastore = engine.factory.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        return {
            table: table_rows(cursor, datastore.schema, table)
            for model in read_models()
            for table in build_tables(engine, model).tables[:-1]
        }


async def test_an_export_imported_into_a_fresh_database_has_the_same_histories_and_read_models(
    engine: Ledgerflow,
    settings: Settings,
    fresh_database: Settings,
    tmp_path: Path,
    ledgerflow: Cli,
) -> None:
    a_workflow_with_finished_runs(engine)
    file = tmp_path / "etl.jsonl"
    ledgerflow(settings, "export", "--workflow", "etl", "-o", str(file))

    imported = ledgerflow(fresh_database, "import", str(file))

    source = build_engine(replace(settings, pool_size=12))  # a follower per read model
    copy = build_engine(fresh_database)
    try:
        await project_everything(source)
        await project_everything(copy)
        assert imported[0] == 0, imported
        assert len(histories(source)) == 5  # the workflow and its four runs
        assert histories(copy) == histories(source)
        assert verify(copy).head_digest == verify(source).head_digest
        assert read_model_rows(source)["runs"].total() == 4
        assert read_model_rows(copy) == read_model_rows(source)
    finally:
        source.close()
        copy.close()


def test_an_import_that_conflicts_with_the_store_is_refused_and_writes_nothing(
    engine: Ledgerflow,
    settings: Settings,
    tmp_path: Path,
    ledgerflow: Cli,
) -> None:
    some_history(engine)
    file = tmp_path / "etl.jsonl"
    ledgerflow(settings, "export", "--workflow", "etl", "-o", str(file))
    header, workflow, *run = file.read_text().splitlines()
    run_id, another_id = json.loads(run[0])["aggregate_id"], str(uuid4())
    another_run = [line.replace(run_id, another_id) for line in run]  # not in the store yet
    changed = json.loads(workflow)
    changed["state"] = changed["state"].replace('"alice"', '"mallory"')
    file.write_text("\n".join([header, *another_run, json.dumps(changed)]) + "\n")
    before = engine.recorder.max_notification_id()

    code, _, err = ledgerflow(settings, "import", str(file))

    assert code == 1
    assert "the store holds another event at" in err
    assert engine.recorder.max_notification_id() == before
