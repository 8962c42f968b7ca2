"""Several `ledgerflow api` processes on one port (`LEDGERFLOW_API_PROCESSES`): each binds it,
the kernel spreads connections over them, and losing one leaves the port served."""

import subprocess
import sys
from functools import partial

import httpx
import pytest

from tests.e2e.rig import HANG, Deployment, wait_for

pytestmark = pytest.mark.e2e

STARTED = "Application startup complete"


def answers(url: str) -> bool:
    """Whether a new connection (not a pooled one) to `url` gets a 200."""
    try:
        return httpx.get(f"{url}/health/live", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def serving(deployment: Deployment, key: str, starts: int = 1) -> bool:
    """Whether the API process `key`, started `starts` times, serves now (its log says)."""
    assert key not in deployment.exited(), deployment.log(key)
    return deployment.log(key).count(STARTED) >= starts


def test_two_api_processes_share_the_port_and_either_serves_alone(
    deployment: Deployment,
) -> None:
    deployment.env["LEDGERFLOW_API_PROCESSES"] = "2"
    deployment.start("w1")
    deployment.spawn("api-2", "api")
    wait_for(lambda: serving(deployment, "api-2"), "the second API serving")
    deployment.apply("shared", [{"name": "a", "executor": "noop"}])
    assert deployment.wait_until(deployment.start_run("shared"), "succeeded")

    for survivor, lost in (("api-2", "api"), ("api", "api-2")):
        deployment.kill(lost)
        # Every new connection lands on the survivor: the port was bound by both.
        assert all(answers(deployment.url) for _ in range(20)), f"{survivor} alone"
        run_id = deployment.start_run("shared")
        assert deployment.wait_until(run_id, "succeeded")["status"] == "succeeded"
        deployment.restart(lost)
        wait_for(partial(serving, deployment, lost, 2), f"{lost} back")

    assert deployment.exited() == {}


def test_a_second_api_on_a_taken_port_fails_unless_both_share_it(
    deployment: Deployment,
) -> None:
    deployment.start()
    second = subprocess.run(
        [sys.executable, "-m", "ops.cli", "api"],
        env=deployment.env,  # LEDGERFLOW_API_PROCESSES unset: one API, its port its own
        capture_output=True,
        timeout=HANG,
        check=False,
    )

    assert second.returncode != 0
    assert b"address already in use" in (second.stdout + second.stderr).lower()
    assert answers(deployment.url)
