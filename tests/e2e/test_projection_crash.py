"""The engine killed while its projections apply batches: after a restart, every read model
holds each row once, and equals a rebuild from position 0."""

import signal
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from ops.system import build_engine, read_models
from tests.e2e.rig import Deployment, wait_for

pytestmark = pytest.mark.e2e

RUNS = 240


def dump(deployment: Deployment) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model's tables, positions included, in a stable order."""
    settings = deployment.settings
    engine = build_engine(settings)
    try:
        datastore = engine.factory.datastore  # type: ignore[attr-defined]
        tables = [t for model in read_models() for t in model.tables(datastore).tables]
    finally:
        engine.close()
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        return {
            table: sorted(
                conn.execute(
                    SQL("SELECT * FROM {}.{}").format(
                        Identifier(settings.schema), Identifier(table)
                    )
                ).fetchall(),
                key=repr,
            )
            for table in tables
        }


def differences(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows only `before` has, and those only `after` has."""
    return [r for r in before if r not in after], [r for r in after if r not in before]


def caught_up(deployment: Deployment) -> bool:
    items = deployment.http.get("/v1/projections").json()["items"]
    return all(item["lag_events"] == 0 and item["following"] for item in items)


def projections(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "projections", *args],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_engine_killed_mid_batch_leaves_no_duplicated_or_missing_rows(
    deployment: Deployment,
) -> None:
    deployment.start("w1")
    deployment.apply("ping", [{"name": "a", "executor": "noop"}, {"name": "b", "executor": "noop"}])

    run_ids = []
    for number in range(RUNS):
        run_ids.append(deployment.start_run("ping", {"n": number}))
        if number == RUNS // 3:
            deployment.kill("engine")  # SIGKILL, whatever batch it is applying
        if number == RUNS // 2:
            deployment.spawn("engine", "engine")
    for run_id in run_ids:
        deployment.wait_until(run_id, "succeeded")
    wait_for(lambda: caught_up(deployment), "read models did not catch up after the restart")
    deployment.kill("engine", signal.SIGTERM)  # no more events (heartbeats become none either)
    live = dump(deployment)

    rebuilt = projections(deployment, "rebuild")
    status = projections(deployment, "status")
    unknown = projections(deployment, "rebuild", "nope")

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert status.returncode == 0, status.stdout + status.stderr
    assert sorted(str(row[0]) for row in live["runs"]) == sorted(run_ids)
    assert {row[4] for row in live["runs"]} == {"succeeded"}
    assert len(live["attempts"]) == 2 * RUNS
    again = dump(deployment)
    assert {t: differences(live[t], again[t]) for t in live} == {t: ([], []) for t in live}
    assert unknown.returncode == 2
    assert "unknown read model(s) nope; known: attempts, runs, statistics" in unknown.stderr
