"""The `ledgerflow runs` commands in-process against the real app: start, read, change, wait."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.unit.cli_rig import ledgerflow, refused
from tests.unit.client_rig import Api, an_api
from tests.unit.test_http_builders import a_spec
from tests.unit.test_http_lists import MemoryReadModel, a_run_row


@contextmanager
def an_api_with_etl() -> Iterator[Api]:
    """The app with workflow `etl` (extract -> transform -> load) registered."""
    with an_api() as api:
        api.client().create_workflow(a_spec("etl"))
        yield api


def test_start_takes_string_and_json_inputs_and_prints_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with an_api_with_etl() as api:
        started = ledgerflow(
            api, capsys, "runs", "start", "etl", "--input", "date=2026-05-01",
            "--input", "rows:=3", "--input", "tags:=[\"a\"]", "--json",
        )  # fmt: skip

    run = json.loads(started.out)
    assert started.code == 0
    assert run["inputs"] == {"date": "2026-05-01", "rows": 3, "tags": ["a"]}
    assert (run["workflow"], run["status"]) == ("etl", "queued")


def test_inputs_from_a_file_are_overridden_by_input_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"date": "2026-01-01", "dry_run": True}))

    with an_api_with_etl() as api:
        started = ledgerflow(
            api, capsys, "runs", "start", "etl", "--inputs-file", str(inputs),
            "--input", "date=2026-05-01", "-q",
        )  # fmt: skip
        run = api.client().get_run(started.out.strip())

    assert run["inputs"] == {"date": "2026-05-01", "dry_run": True}


def test_the_same_idempotency_key_prints_the_same_run_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with an_api_with_etl() as api:
        first = ledgerflow(api, capsys, "runs", "start", "etl", "--idempotency-key", "k", "-q")
        again = ledgerflow(api, capsys, "runs", "start", "etl", "--idempotency-key", "k", "-q")
        other = ledgerflow(
            api, capsys, "runs", "start", "etl", "--idempotency-key", "k", "--input", "a=b"
        )

    assert first.out == again.out
    assert other.code == 1
    assert other.err.startswith("ledgerflow: 409 Idempotency-Key reused with a different request")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("date", "argument --input: 'date' is not KEY=VALUE"),
        ("=x", "has no KEY before the '='"),
        ("rows:=three", "the value of 'rows' is not JSON; write rows=three for a string"),
    ],
)
def test_a_malformed_input_is_a_usage_error_saying_why(
    option: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = refused(capsys, "runs", "start", "etl", "--input", option)

    assert outcome.code == 2
    assert message in outcome.err


def test_a_missing_inputs_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        outcome = ledgerflow(api, capsys, "runs", "start", "etl", "--inputs-file", "/no/in.json")

    assert (outcome.code, outcome.err) == (
        1,
        "ledgerflow: cannot read /no/in.json: No such file or directory\n",
    )


def test_get_shows_the_run_and_a_row_per_task(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl", {"greeting": "hi"})
        api.finish(run["id"], "failed")
        shown = ledgerflow(api, capsys, "runs", "get", run["id"])

    assert shown.lines[0] == f"run       {run['id']}"
    assert shown.lines[1:3] == ["workflow  etl (version 1)", "status    failed"]
    assert 'inputs    {"greeting": "hi"}' in shown.lines
    header = shown.lines.index(next(line for line in shown.lines if line.startswith("TASK")))
    assert shown.lines[header + 1].split()[:5] == ["extract", "failed", "1", "w1", "3"]
    assert shown.lines[header + 2].split()[:2] == ["transform", "skipped"]


def test_cancel_then_retry_prints_each_run(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        cancelled = ledgerflow(api, capsys, "runs", "cancel", run["id"], "--reason", "oops")
        retried = ledgerflow(api, capsys, "runs", "retry", run["id"])
        again = ledgerflow(api, capsys, "runs", "cancel", run["id"])

    assert cancelled.out == f"{run['id']}  etl v1 cancelled\n"
    assert retried.out.endswith(f"etl v1 queued (retry of {run['id']})\n")
    assert again.code == 1
    assert (
        again.err
        == f"ledgerflow: 409 Run already finished: run {run['id']} already finished (cancelled)\n"
    )


def test_history_tells_each_step_in_words_then_each_tasks_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        api.finish(run["id"])
        text = ledgerflow(api, capsys, "runs", "history", run["id"])
        as_json = ledgerflow(api, capsys, "runs", "history", run["id"], "--json")

    assert text.lines[0].split() == ["VERSION", "TIME", "+", "WHAT"]
    assert "run started by anonymous (api): workflow etl v1, 3 task(s)" in text.lines[1]
    assert "extract attempt 1 queued on default" in text.lines[2]
    assert any("run succeeded after" in line for line in text.lines)
    assert ["TASK", "STATUS", "ATTEMPTS", "WAITING", "RUNNING"] in [ln.split() for ln in text.lines]
    assert json.loads(as_json.out)["items"][0]["type"] == "RunStarted"


def test_events_lists_every_event_in_order_and_filters_by_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        api.finish(run["id"])
        table = ledgerflow(api, capsys, "runs", "events", run["id"])
        as_json = ledgerflow(api, capsys, "runs", "events", run["id"], "--json")
        queued = ledgerflow(api, capsys, "runs", "events", run["id"], "--type", "TaskQueued")

    rows = [line.split() for line in table.lines[1:]]
    assert table.lines[0].split() == ["POSITION", "VERSION", "TIME", "TYPE", "ACTOR", "DETAILS"]
    assert [row[3] for row in rows][:2] == ["RunStarted", "TaskQueued"]
    assert rows[1][5:] == ["task=extract", "attempt=1"]
    assert [row[3] for row in rows][-1] == "RunSucceeded"
    assert len(json.loads(as_json.out)["items"]) == len(rows)
    assert {line.split()[3] for line in queued.lines[1:]} == {"TaskQueued"}


def test_an_unknown_event_type_is_one_line_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        outcome = ledgerflow(api, capsys, "runs", "events", run["id"], "--type", "Nope")

    assert outcome.code == 1
    assert outcome.err.startswith("ledgerflow: 422")
    assert "unknown event type(s) Nope" in outcome.err


def test_replay_shows_the_dag_after_each_event(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        api.finish(run["id"])
        replayed = ledgerflow(api, capsys, "runs", "replay", run["id"])

    assert replayed.lines[0] == (
        "v1 RunStarted  run queued  extract pending  transform pending  load pending"
    )
    assert replayed.lines[1] == (
        "v2 TaskQueued  run queued  extract queued#1  transform pending  load pending"
    )
    assert replayed.lines[-1].endswith(
        "run succeeded  extract succeeded#1  transform succeeded#1  load succeeded#1"
    )


def test_replay_at_a_version_shows_each_task_then(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        api.finish(run["id"])
        at_three = ledgerflow(api, capsys, "runs", "replay", run["id"], "--at", "3")
        beyond = ledgerflow(api, capsys, "runs", "replay", run["id"], "--at", "99")

    assert at_three.lines[0].startswith("v3  run running  extract running#1")
    assert "  extract: running, attempt 1" in at_three.lines
    assert beyond.code == 1
    assert "as_of_version" in beyond.err


def test_replay_at_a_version_below_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = refused(capsys, "runs", "replay", "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10", "--at", "0")

    assert outcome.code == 2
    assert "less than 1" in outcome.err


def test_tasks_says_when_no_attempt_is_recorded_yet(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        outcome = ledgerflow(api, capsys, "runs", "tasks", run["id"])

    assert outcome.out == "no attempts yet\n"


def test_list_shows_runs_newest_first_with_their_filters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = MemoryReadModel([a_run_row(1, status="failed", duration_ms=61_000), a_run_row(2)])
    with an_api(runs=model.runs) as api:
        outcome = ledgerflow(
            api, capsys, "runs", "list", "--status", "failed", "--created-after", "2026-05-01"
        )

    assert outcome.lines == [
        "ID                                    WORKFLOW  VERSION  STATUS  TRIGGER  CREATED"
        "               DURATION",
        "00000000-0000-0000-0000-000000000001  etl       1        failed  api      "
        "2026-05-01T12:01:00Z  1m01s",
    ]


def test_wait_exits_0_for_a_success_and_1_for_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        good, bad = api.client().start_run("etl"), api.client().start_run("etl")
        api.finish(good["id"])
        api.finish(bad["id"], "failed")

        succeeded = ledgerflow(api, capsys, "runs", "wait", good["id"])
        failed = ledgerflow(api, capsys, "runs", "wait", bad["id"])

    assert (succeeded.code, succeeded.out) == (0, f"{good['id']}  etl v1 succeeded\n")
    assert failed.code == 1
    assert failed.out.startswith(f"{bad['id']}  etl v1 failed: ")


def test_wait_gives_up_after_its_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        outcome = ledgerflow(api, capsys, "runs", "wait", run["id"], "--timeout", "0.2")

    assert outcome.code == 1
    assert outcome.err == f"ledgerflow: run {run['id']} is still queued after 0.2s\n"


def test_fork_starts_a_run_from_a_version_and_get_shows_both_links(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with an_api_with_etl() as api:
        run = api.client().start_run("etl")
        api.finish(run["id"])
        forked = ledgerflow(api, capsys, "runs", "fork", run["id"], "--from-version", "1")
        child = api.client().get_run(forked.out.split()[0])
        parent = ledgerflow(api, capsys, "runs", "get", run["id"])
        shown = ledgerflow(api, capsys, "runs", "get", child["id"])

    assert forked.out.endswith(f"etl v1 queued (forked from {run['id']} at version 1)\n")
    assert ["forked", "by", child["id"], "(at", "version", "1)"] in [
        ln.split() for ln in parent.lines
    ]
    assert ["forked", "from", run["id"], "(at", "version", "1)"] in [
        ln.split() for ln in shown.lines
    ]


def test_fork_needs_a_positive_from_version(capsys: pytest.CaptureFixture[str]) -> None:
    run_id = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"

    missing = refused(capsys, "runs", "fork", run_id)
    zero = refused(capsys, "runs", "fork", run_id, "--from-version", "0")

    assert (missing.code, zero.code) == (2, 2)
    assert "--from-version" in missing.err
    assert "--from-version" in zero.err
