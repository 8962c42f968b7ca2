"""The lists over HTTP: runs and workflows from in-memory read models, a run's attempts."""

import base64
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from projections.runs.view import RunQuery, RunRow, WorkflowQuery, WorkflowRow
from tests.unit.test_http_builders import (
    Client,
    a_client,
    locs,
    problem,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T0_JSON = "2026-05-01T12:00:00Z"


def a_run_row(number: int, **fields: Any) -> RunRow:
    """Run `number`, created `number` minutes after T0, queued, of workflow `etl`."""
    row = RunRow(
        run_id=UUID(int=number),
        tenant="default",
        workflow="etl",
        workflow_version=1,
        status="queued",
        trigger="api",
        retry_of=None,
        reason=None,
        created_at=T0 + timedelta(minutes=number),
        started_at=None,
        finished_at=None,
        duration_ms=None,
        task_count=3,
    )
    return replace(row, **fields)


def a_workflow_row(name: str, **fields: Any) -> WorkflowRow:
    row = WorkflowRow("default", name, 1, "", T0, T0, None, None, None, 0)
    return replace(row, **fields)


@dataclass
class MemoryReadModel:
    """The runs read model's queries over rows in memory, with the PostgreSQL view's meaning."""

    run_rows: list[RunRow] = field(default_factory=list)
    workflow_rows: list[WorkflowRow] = field(default_factory=list)
    asked: list[RunQuery | WorkflowQuery] = field(default_factory=list)

    def runs(self, tenant: str, query: RunQuery) -> list[RunRow]:
        self.asked.append(query)
        rows = [row for row in self.run_rows if row.tenant == tenant and _admits(query, row)]
        return sorted(rows, key=lambda row: row.position, reverse=True)[: query.limit]

    def workflows(self, tenant: str, query: WorkflowQuery) -> list[WorkflowRow]:
        self.asked.append(query)
        rows = [row for row in self.workflow_rows if row.tenant == tenant]
        rows = [row for row in rows if query.after is None or row.name > query.after]
        rows = [row for row in rows if query.include_retired or row.retired_at is None]
        return sorted(rows, key=lambda row: row.name)[: query.limit]


def _admits(query: RunQuery, row: RunRow) -> bool:
    return (
        (not query.workflows or row.workflow in query.workflows)
        and (not query.statuses or row.status in query.statuses)
        and (not query.triggers or row.trigger in query.triggers)
        and (query.created_after is None or row.created_at >= query.created_after)
        and (query.created_before is None or row.created_at < query.created_before)
        and (query.after is None or row.position < query.after)
    )


def listed(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ids(page: dict[str, Any]) -> list[int]:
    return [UUID(item["id"]).int for item in page["items"]]


def test_runs_are_listed_newest_first_with_a_link_to_each() -> None:
    model = MemoryReadModel([a_run_row(1), a_run_row(3), a_run_row(2, tenant="other")])
    with a_client(runs=model.runs) as client:
        page = listed(client, "/v1/runs")

        assert ids(page) == [3, 1]
        assert page["next_cursor"] is None
        newest = page["items"][0]
        assert newest["links"] == {"self": f"/v1/runs/{UUID(int=3)}"}
        assert (newest["workflow"], newest["status"], newest["trigger"]) == ("etl", "queued", "api")
        assert newest["created_at"] == "2026-05-01T12:03:00Z"


def test_a_finished_run_shows_its_times_reason_and_duration() -> None:
    finished = a_run_row(
        1,
        status="failed",
        reason="1 of 3 task(s) did not succeed",
        started_at=T0 + timedelta(minutes=1, seconds=2),
        finished_at=T0 + timedelta(minutes=2),
        duration_ms=60_000,
        retry_of=UUID(int=9),
        trigger="retry",
    )
    with a_client(runs=MemoryReadModel([finished]).runs) as client:
        (item,) = listed(client, "/v1/runs")["items"]

        assert (item["status"], item["reason"]) == ("failed", "1 of 3 task(s) did not succeed")
        assert (item["duration_ms"], item["retry_of"]) == (60_000, str(UUID(int=9)))
        assert item["started_at"] == "2026-05-01T12:01:02Z"
        assert item["finished_at"] == "2026-05-01T12:02:00Z"


def test_repeated_filters_reach_the_read_model_as_sets_of_values() -> None:
    model = MemoryReadModel(
        [
            a_run_row(1, status="failed"),
            a_run_row(2, status="cancelled", trigger="retry"),
            a_run_row(3, status="failed", workflow="other"),
            a_run_row(4, status="succeeded"),
        ]
    )
    with a_client(runs=model.runs) as client:
        params = "status=failed&status=cancelled&workflow=etl&trigger=api&trigger=retry"
        response = client.get(f"/v1/runs?{params}")

        assert ids(response.json()) == [2, 1]
        (query,) = model.asked
        assert isinstance(query, RunQuery)
        assert query.statuses == ("failed", "cancelled")
        assert (query.workflows, query.triggers) == (("etl",), ("api", "retry"))


def test_the_creation_window_takes_rfc_3339_instants_in_any_time_zone() -> None:
    model = MemoryReadModel([a_run_row(n) for n in range(1, 6)])
    with a_client(runs=model.runs) as client:
        page = listed(
            client,
            "/v1/runs",
            created_after="2026-05-01T14:02:00+02:00",
            created_before="2026-05-01T12:04:00.5Z",
        )

        assert ids(page) == [4, 3, 2]  # from 12:02 (included) to 12:04:00.5 (excluded)
        query = model.asked[-1]
        assert isinstance(query, RunQuery)
        assert query.created_after == T0 + timedelta(minutes=2)


def test_an_unencoded_plus_in_a_time_zone_is_read_as_a_plus() -> None:
    model = MemoryReadModel([a_run_row(1), a_run_row(3)])
    with a_client(runs=model.runs) as client:
        response = client.get("/v1/runs?created_after=2026-05-01T14:02:00+02:00")

        assert ids(response.json()) == [3]


def test_three_pages_of_two_list_every_run_once_even_when_times_tie() -> None:
    rows = [a_run_row(n, created_at=T0) for n in (1, 2)] + [a_run_row(n) for n in (3, 4, 5)]
    with a_client(runs=MemoryReadModel(rows).runs) as client:
        first = listed(client, "/v1/runs", limit=2)
        second = listed(client, "/v1/runs", limit=2, cursor=first["next_cursor"])
        third = listed(client, "/v1/runs", limit=2, cursor=second["next_cursor"])

        assert [ids(first), ids(second), ids(third)] == [[5, 4], [3, 2], [1]]
        assert first["next_cursor"]
        assert second["next_cursor"]
        assert third["next_cursor"] is None


def test_a_page_that_ends_exactly_at_the_last_run_has_no_next_cursor() -> None:
    with a_client(runs=MemoryReadModel([a_run_row(1), a_run_row(2)]).runs) as client:
        page = listed(client, "/v1/runs", limit=2)

        assert (ids(page), page["next_cursor"]) == ([2, 1], None)


def a_tampered(cursor: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[5] ^= 1  # one bit of the position
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def a_valid_cursor() -> str:
    with a_client(runs=MemoryReadModel([a_run_row(1), a_run_row(2)]).runs) as client:
        cursor: str = listed(client, "/v1/runs", limit=1)["next_cursor"]
        return cursor


def a_workflows_cursor() -> str:
    model = MemoryReadModel(workflow_rows=[a_workflow_row("a"), a_workflow_row("b")])
    with a_client(workflows=model.workflows) as client:
        cursor: str = listed(client, "/v1/workflows", limit=1)["next_cursor"]
        return cursor


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("status=nope", "status"),
        ("status=failed&status=Failed", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("created_after=2026-05-01T12:00:00", "created_after"),
        ("created_after=2026-05-01", "created_after"),
        ("created_after=2026-05-01T12:04Z", "created_after"),
        ("created_after=1777636800", "created_after"),
        ("created_before=2026-02-30T12:00:00Z", "created_before"),
        (
            "created_after=2026-05-02T00:00:00Z&created_before=2026-05-01T00:00:00Z",
            "created_before",
        ),
        ("workflow=no%20spaces", "workflow"),
        ("cursor=not-a-cursor!", "cursor"),
        ("cursor=AAAA", "cursor"),
        (f"cursor={'A' * 200}", "cursor"),
        (f"cursor={a_tampered(a_valid_cursor())}", "cursor"),
        (f"cursor={a_workflows_cursor()}", "cursor"),
    ],
    ids=lambda value: value[:40],
)
def test_bad_list_parameters_are_a_422_naming_the_parameter(query: str, loc: str) -> None:
    model = MemoryReadModel([a_run_row(1)])
    with a_client(runs=model.runs) as client:
        response = client.get(f"/v1/runs?{query}")

        assert locs(problem(response, 422)) == [loc]
        assert model.asked == []


def test_workflows_are_listed_by_name_with_their_last_run() -> None:
    busy = a_workflow_row(
        "etl",
        current_version=2,
        description="Nightly copy.",
        last_run_id=UUID(int=7),
        last_run_status="running",
        last_run_at=T0,
        run_count=4,
    )
    model = MemoryReadModel(workflow_rows=[busy, a_workflow_row("backup")])
    with a_client(workflows=model.workflows) as client:
        page = listed(client, "/v1/workflows")

        assert [item["name"] for item in page["items"]] == ["backup", "etl"]
        never_run, etl = page["items"]
        assert (never_run["last_run"], never_run["run_count"]) == (None, 0)
        assert etl["last_run"] == {"id": str(UUID(int=7)), "status": "running", "at": T0_JSON}
        assert (etl["current_version"], etl["description"], etl["run_count"]) == (
            2,
            "Nightly copy.",
            4,
        )
        assert etl["links"] == {"self": "/v1/workflows/etl"}


def test_workflows_page_by_name_through_three_pages() -> None:
    names = ["a", "b", "c", "d", "e"]
    model = MemoryReadModel(workflow_rows=[a_workflow_row(name) for name in reversed(names)])
    with a_client(workflows=model.workflows) as client:
        pages = [listed(client, "/v1/workflows", limit=2)]
        while pages[-1]["next_cursor"]:
            pages.append(listed(client, "/v1/workflows", limit=2, cursor=pages[-1]["next_cursor"]))

        assert [[item["name"] for item in page["items"]] for page in pages] == [
            ["a", "b"],
            ["c", "d"],
            ["e"],
        ]


def test_retired_workflows_are_listed_only_when_asked_for() -> None:
    retired = a_workflow_row("old-etl", retired_at=T0)
    model = MemoryReadModel(workflow_rows=[retired, a_workflow_row("etl")])
    with a_client(workflows=model.workflows) as client:
        default = listed(client, "/v1/workflows")
        everything = listed(client, "/v1/workflows", include_retired="true")

        assert [item["name"] for item in default["items"]] == ["etl"]
        assert [(i["name"], i["retired"], i["retired_at"]) for i in everything["items"]] == [
            ("etl", False, None),
            ("old-etl", True, T0_JSON),
        ]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=garbage", "cursor"),
        ("include_retired=maybe", "include_retired"),
    ],
)
def test_bad_workflow_list_parameters_are_a_422(query: str, loc: str) -> None:
    with a_client() as client:
        assert locs(problem(client.get(f"/v1/workflows?{query}"), 422)) == [loc]
