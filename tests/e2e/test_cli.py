"""The user CLI as a person types it, against a real `ledgerflow up`: apply, start, wait, read."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.embedded import free_port
from tests.e2e.conftest import Ledgerflow
from tests.e2e.rig import HANG

pytestmark = pytest.mark.e2e

SCRIPT = """
ledgerflow workflows apply - <<'JSON'
{"name": "hello", "tasks": [
  {"name": "a", "command": "echo \\"$LEDGERFLOW_INPUTS\\""},
  {"name": "b", "command": "echo b", "depends_on": ["a"]}]}
JSON
ledgerflow workflows apply - <<'JSON'
{"name": "broken", "tasks": [{"name": "a", "command": "exit 3"}]}
JSON
RUN=$(ledgerflow runs start hello -q --input greeting=hi --input times:=2)
ledgerflow runs wait "$RUN" --timeout {hang}
echo "RUN=$RUN"
BROKEN=$(ledgerflow runs start broken -q)
if ledgerflow runs wait "$BROKEN" --timeout {hang}; then exit 9; fi
echo "BROKEN=$BROKEN"
"""


def run_cli(script: str, api_url: str) -> subprocess.CompletedProcess[str]:
    """`script` in bash, with the venv's `ledgerflow` first on PATH and the API's URL set."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LEDGERFLOW_API_URL": api_url,
    }
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=4 * HANG,
        check=False,
    )


def printed(result: subprocess.CompletedProcess[str], name: str) -> str:
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(f"{name}=")]
    return line.removeprefix(f"{name}=")


def test_runs_start_then_wait_exits_0_for_a_success_and_1_for_a_failure(
    ledgerflow: Ledgerflow,
) -> None:
    ledgerflow.start()

    result = run_cli(SCRIPT.replace("{hang}", str(int(HANG))), ledgerflow.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "workflow hello: created (version 1)" in result.stdout
    run_id, broken_id = printed(result, "RUN"), printed(result, "BROKEN")
    assert f"{run_id}  hello v1 succeeded" in result.stdout
    assert f"{broken_id}  broken v1 failed: " in result.stdout
    shown = run_cli(f"ledgerflow runs get {run_id} --json", ledgerflow.url)
    run = json.loads(shown.stdout)
    assert run["inputs"] == {"greeting": "hi", "times": 2}
    assert json.loads(run["tasks"][0]["stdout_tail"]) == {"greeting": "hi", "times": 2}
    history = run_cli(f"ledgerflow runs events {run_id}", ledgerflow.url)
    types = [line.split()[3] for line in history.stdout.splitlines()[1:]]
    assert (types[0], types[-1]) == ("RunStarted", "RunSucceeded")


def test_a_command_with_no_api_to_reach_says_so_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = run_cli("ledgerflow runs list", url)

    assert result.returncode == 1
    assert (
        result.stderr == f"ledgerflow: cannot reach the API at {url}: is 'ledgerflow up' running?\n"
    )
