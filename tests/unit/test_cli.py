"""The user CLI: help for every command, readable errors, and the workflows and workers commands."""

import io
import json
import sys
from pathlib import Path

import pytest

from gateways.cli.commands import main
from ops.cli import main as ledgerflow_main
from tests.unit.cli_rig import ledgerflow, refused
from tests.unit.client_rig import Unreachable, an_api
from tests.unit.test_http_builders import a_spec
from tests.unit.test_http_lists import MemoryReadModel, a_workflow_row
from tests.unit.test_http_workers import A_WORKER

USER_COMMANDS = [
    ["workflows"],
    ["workflows", "list"],
    ["workflows", "get"],
    ["workflows", "apply"],
    ["workflows", "retire"],
    ["runs"],
    ["runs", "start"],
    ["runs", "get"],
    ["runs", "list"],
    ["runs", "cancel"],
    ["runs", "retry"],
    ["runs", "history"],
    ["runs", "events"],
    ["runs", "replay"],
    ["runs", "tasks"],
    ["runs", "wait"],
    ["workers"],
    ["workers", "list"],
    ["stats"],
]
UNKNOWN_RUN = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"


@pytest.mark.parametrize("command", USER_COMMANDS, ids=" ".join)
def test_every_user_command_explains_itself_with_help(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        ledgerflow_main([*command, "--help"])

    assert exited.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: ledgerflow {' '.join(command)}")
    assert len(usage.splitlines()) > 4


def test_the_top_level_help_lists_the_user_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        ledgerflow_main(["--help"])

    usage = capsys.readouterr().out
    assert all(name in usage for name in ("workflows", "runs", "workers", "stats"))


def test_a_stopped_api_is_one_line_naming_its_url_and_exit_code_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["runs", "list", "--api-url", "http://127.0.0.1:9"], transport=Unreachable())

    assert code == 1
    assert capsys.readouterr().err == (
        "ledgerflow: cannot reach the API at http://127.0.0.1:9: is 'ledgerflow up' running?\n"
    )


def test_an_api_url_without_a_scheme_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["workers", "list", "--api-url", "localhost:8080"])

    assert code == 2
    assert "must start with http:// or https://" in capsys.readouterr().err


def test_an_unknown_run_is_the_apis_problem_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api() as api:
        outcome = ledgerflow(api, capsys, "runs", "get", UNKNOWN_RUN)

    assert outcome.code == 1
    assert outcome.err == f"ledgerflow: 404 Run not found: run {UNKNOWN_RUN} not found\n"
    assert outcome.out == ""


def test_a_malformed_run_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = refused(capsys, "runs", "cancel", "1234")

    assert outcome.code == 2
    assert "argument RUN_ID: '1234' is not a run id" in outcome.err


def test_a_missing_file_is_named_and_nothing_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api() as api:
        outcome = ledgerflow(api, capsys, "workflows", "apply", "/nonexistent/etl.json")
        listed = ledgerflow(api, capsys, "workflows", "get", "etl")

    assert outcome.code == 1
    assert (
        outcome.err == "ledgerflow: cannot read /nonexistent/etl.json: No such file or directory\n"
    )
    assert listed.code == 1


def test_a_file_that_is_not_json_is_named_with_the_parse_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "etl.json"
    path.write_text("{'name': 'etl'")

    with an_api() as api:
        outcome = ledgerflow(api, capsys, "workflows", "apply", str(path))

    assert outcome.code == 1
    assert outcome.err.startswith(f"ledgerflow: {path} is not valid JSON: ")


def test_an_invalid_definition_lists_each_located_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = a_spec("etl", tasks=[{"name": "a", "command": "x", "depends_on": ["ghost"]}])
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(spec)))

    with an_api() as api:
        outcome = ledgerflow(api, capsys, "workflows", "apply", "-")

    assert outcome.code == 1
    assert outcome.err.startswith("ledgerflow: 422 ")
    assert "(tasks[0].depends_on: " in outcome.err


def test_apply_reads_json_or_yaml_and_says_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_file, yaml_file = tmp_path / "etl.json", tmp_path / "etl.yaml"
    json_file.write_text(json.dumps(a_spec("etl")))
    yaml_file.write_text("name: etl\ndescription: from YAML\ntasks:\n  - {name: a, command: x}\n")

    with an_api() as api:
        created = ledgerflow(api, capsys, "workflows", "apply", str(json_file))
        unchanged = ledgerflow(api, capsys, "workflows", "apply", str(json_file))
        revised = ledgerflow(api, capsys, "workflows", "apply", str(yaml_file), "--json")

    assert created.out == "workflow etl: created (version 1)\n"
    assert unchanged.out == "workflow etl: unchanged (version 1)\n"
    assert json.loads(revised.out)["applied"] == "revised"


def test_get_shows_the_definition_and_a_table_of_its_tasks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with an_api() as api:
        api.client().create_workflow(a_spec("etl", description="Nightly copy"))
        shown = ledgerflow(api, capsys, "workflows", "get", "etl")
        as_json = ledgerflow(api, capsys, "workflows", "get", "etl", "--version", "1", "--json")

    assert shown.lines[:3] == [
        "workflow     etl",
        "version      1 (current: 1)",
        "description  Nightly copy",
    ]
    header = shown.lines.index("TASK       EXECUTOR  QUEUE    DEPENDS ON  TIMEOUT  RUNS")
    assert (
        shown.lines[header + 2]
        == "transform  shell     default  extract     3600s    echo transform"
    )
    assert json.loads(as_json.out)["tasks"][0]["name"] == "extract"


def test_workflows_are_listed_in_an_aligned_table_with_a_hint_for_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = MemoryReadModel(workflow_rows=[a_workflow_row(n, run_count=2) for n in ("etl", "b")])
    with an_api(workflows=model.workflows) as api:
        first = ledgerflow(api, capsys, "workflows", "list", "--limit", "1")
        every = ledgerflow(api, capsys, "workflows", "list", "--all", "--json")

    assert first.lines == [
        "NAME  VERSION  RUNS  LAST RUN  LAST RUN AT  STATE   DESCRIPTION",
        "b     1        2     -         -            active  -",
    ]
    assert first.err.startswith("more workflows: add --cursor ")
    assert [item["name"] for item in json.loads(every.out)["items"]] == ["b", "etl"]


def test_workers_are_listed_with_their_status(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api(workers=lambda: [A_WORKER]) as api:
        outcome = ledgerflow(api, capsys, "workers", "list")

    assert outcome.lines == [
        "NAME  STATUS  QUEUES       CAPACITY  HOST  VERSION  SINCE",
        "w1    lost    default,gpu  4         box   0.1.0    2026-01-02T00:00:00Z",
    ]


def test_retire_then_get_shows_when_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    with an_api() as api:
        api.client().create_workflow(a_spec("etl"))
        retired = ledgerflow(api, capsys, "workflows", "retire", "etl", "--reason", "replaced")
        shown = ledgerflow(api, capsys, "workflows", "get", "etl")
        unknown = ledgerflow(api, capsys, "workflows", "retire", "ghost")

    assert retired.out == "workflow etl: retired\n"
    (line,) = [line for line in shown.lines if line.startswith("retired")]
    assert line.endswith("Z (replaced)")
    assert unknown.code == 1
    assert unknown.err.startswith("ledgerflow: 404 Workflow not found: ")


def test_a_definition_without_a_name_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nameless.yaml"
    path.write_text("tasks: []\n")

    with an_api() as api:
        outcome = ledgerflow(api, capsys, "workflows", "apply", str(path))

    assert outcome.code == 1
    assert outcome.err == f'ledgerflow: {path} has no "name": a workflow definition needs one\n'
