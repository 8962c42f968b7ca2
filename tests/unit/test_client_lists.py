"""The API client's lists against the real app over in-memory read models: filters and pages."""

from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

import pytest

from gateways.client.errors import ApiError
from gateways.client.views import RunSummary
from projections.runs.view import RunQuery
from projections.status import ProjectionStatus
from tests.unit.client_rig import an_api
from tests.unit.test_http_builders import an_engine
from tests.unit.test_http_lists import T0, MemoryReadModel, a_run_row, a_workflow_row
from tests.unit.test_http_run_attempts import a_row, a_run_of_zip_then_archive
from tests.unit.test_http_workers import A_WORKER


def numbers(runs: Iterable[RunSummary]) -> list[int]:
    return [UUID(run["id"]).int for run in runs]


def test_runs_are_listed_newest_first_with_every_filter_passed_on() -> None:
    model = MemoryReadModel(
        [
            a_run_row(1, status="failed"),
            a_run_row(2, status="cancelled", trigger="retry"),
            a_run_row(3, status="failed", workflow="other"),
            a_run_row(4, status="succeeded"),
        ]
    )
    with an_api(runs=model.runs) as api, api.client() as client:
        page = client.list_runs(
            workflow="etl",
            status=["failed", "cancelled"],
            trigger=("api", "retry"),
            created_after=T0,
            created_before="2026-05-02T00:00:00Z",
        )

    assert numbers(page["items"]) == [2, 1]
    (query,) = model.asked
    assert isinstance(query, RunQuery)
    assert (query.workflows, query.statuses) == (("etl",), ("failed", "cancelled"))
    assert query.triggers == ("api", "retry")
    assert (query.created_after, query.created_before) == (T0, T0 + timedelta(hours=12))


def test_iterating_runs_follows_next_cursor_to_the_last_page() -> None:
    model = MemoryReadModel([a_run_row(number) for number in range(1, 8)])
    with an_api(runs=model.runs) as api, api.client() as client:
        first = client.list_runs(limit=3)
        every = list(client.iter_runs(limit=3))

    assert numbers(first["items"]) == [7, 6, 5]
    assert first["next_cursor"] is not None
    assert numbers(every) == [7, 6, 5, 4, 3, 2, 1]
    assert len(model.asked) == 1 + 3


def test_a_bad_filter_is_an_api_error_422_naming_it() -> None:
    with an_api() as api, api.client() as client, pytest.raises(ApiError) as raised:
        client.list_runs(created_after="yesterday")

    assert raised.value.status == 422
    assert [error.loc for error in raised.value.errors] == ["created_after"]


def test_workflows_are_listed_by_name_page_after_page() -> None:
    model = MemoryReadModel(workflow_rows=[a_workflow_row(name) for name in "cab"])
    with an_api(workflows=model.workflows) as api, api.client() as client:
        first = client.list_workflows(limit=2)
        every = [workflow["name"] for workflow in client.iter_workflows(limit=2)]

    assert [workflow["name"] for workflow in first["items"]] == ["a", "b"]
    assert every == ["a", "b", "c"]


def test_workers_are_listed_with_their_liveness() -> None:
    with an_api(workers=lambda: [A_WORKER]) as api, api.client() as client:
        (worker,) = client.list_workers()

    assert (worker["name"], worker["status"], worker["queues"]) == (
        "w1",
        "lost",
        ["default", "gpu"],
    )


def test_a_runs_attempts_are_listed_in_definition_order() -> None:
    engine = an_engine()
    run_id = a_run_of_zip_then_archive(engine)
    rows = [a_row(run_id, "archive", 1, "queued"), a_row(run_id, "zip", 1, "succeeded")]

    with an_api(engine, attempts=lambda _: rows) as api, api.client() as client:
        attempts = client.run_tasks(run_id)

    assert [(a["task"], a["attempt"], a["status"]) for a in attempts] == [
        ("zip", 1, "succeeded"),
        ("archive", 1, "queued"),
    ]


def test_read_models_are_listed_with_their_lag() -> None:
    runs = ProjectionStatus("runs", 2, 1, 1200, 1204, 4, 0.012, following=True)

    with an_api(projections=lambda: [runs]) as api, api.client() as client:
        (status,) = client.list_projections()

    assert status == {
        "name": "runs",
        "version": 2,
        "built_version": 1,
        "position": 1200,
        "head": 1204,
        "lag_events": 4,
        "lag_seconds": 0.012,
        "following": True,
    }
