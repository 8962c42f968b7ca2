"""The README's walkthrough, run as written against a real `ledgerflow up`, then a restart."""

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Ledgerflow

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[2] / "README.md"
EXPECTED_HISTORY_START = ["RunStarted", "TaskQueued", "TaskStarted", "TaskSucceeded"]


def walkthrough(url: str) -> str:
    text = README.read_text()
    block = re.search(r"<!-- walkthrough -->\s*```sh\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the README lost its walkthrough block"
    return block.group(1).replace("http://127.0.0.1:8080", url)


def run_walkthrough(url: str) -> str:
    script = walkthrough(url) + '\necho\necho "RUN=$RUN"\n'
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"^RUN=(\S+)$", result.stdout, re.MULTILINE)
    assert match is not None, result.stdout
    return match.group(1)


def history_types(url: str, run_id: str) -> list[str]:
    page = httpx.get(f"{url}/v1/runs/{run_id}/events", params={"limit": 500}).json()
    return [item["type"] for item in page["items"]]


def test_the_readme_walkthrough_runs_a_workflow_to_success_and_shows_its_history(
    ledgerflow: Ledgerflow,
) -> None:
    ledgerflow.start()

    run_id = run_walkthrough(ledgerflow.url)

    run = httpx.get(f"{ledgerflow.url}/v1/runs/{run_id}").json()
    assert run["status"] == "succeeded"
    assert [task["status"] for task in run["tasks"]] == ["succeeded"] * 3
    assert run["tasks"][0]["stdout_tail"] == "a\n"
    page = httpx.get(f"{ledgerflow.url}/v1/runs/{run_id}/events").json()
    types = [item["type"] for item in page["items"]]
    assert types[:4] == EXPECTED_HISTORY_START
    assert types[-1] == "RunSucceeded"
    assert sorted(types) == sorted(
        ["RunStarted", "RunSucceeded"] + ["TaskQueued", "TaskStarted", "TaskSucceeded"] * 3
    )
    positions = [item["position"] for item in page["items"]]
    assert positions == sorted(positions)
    assert [item["version"] for item in page["items"]] == list(range(1, len(types) + 1))
    assert {item["tenant"] for item in page["items"]} == {"default"}
    assert page["items"][0]["actor"] == "anonymous"


def test_history_survives_a_stop_and_a_start(ledgerflow: Ledgerflow) -> None:
    ledgerflow.start()
    run_id = run_walkthrough(ledgerflow.url)
    before = httpx.get(f"{ledgerflow.url}/v1/runs/{run_id}/events").json()

    assert ledgerflow.stop() == 0
    ledgerflow.start()

    after = httpx.get(f"{ledgerflow.url}/v1/runs/{run_id}/events").json()
    assert after == before
    again = httpx.post(f"{ledgerflow.url}/v1/workflows/hello/runs", json={}).json()
    assert again["workflow"] == "hello"
