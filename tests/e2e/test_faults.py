"""Faults across real processes: a worker killed mid-task, poison on the dispatch subject."""

import asyncio
from collections import Counter
from typing import Any

import nats
import pytest

from tests.e2e.rig import Deployment, wait_for

pytestmark = pytest.mark.e2e

FAST_LIVENESS = {"LEDGERFLOW_HEARTBEAT_SECONDS": "0.5"}


def terminal_events(history: list[dict[str, object]]) -> Counter[tuple[object, object]]:
    return Counter(
        (item["data"]["task"], item["data"]["attempt"])  # type: ignore[index]
        for item in history
        if item["type"] in {"TaskSucceeded", "TaskFailed", "TaskTimedOut"}
    )


def test_a_worker_killed_mid_task_loses_the_attempt_and_the_run_completes_elsewhere(
    deployment: Deployment,
) -> None:
    deployment.env.update(FAST_LIVENESS)
    deployment.start("w1")
    deployment.apply(
        "sturdy",
        [{"name": "a", "command": "sleep 3", "retry": {"max_attempts": 3, "initial_seconds": 0}}],
    )
    # Liveness knows a worker from its heartbeats: wait until the engine has heard w1.
    wait_for(lambda: "w1" in deployment.workers(), "w1 was never registered")
    run_id = deployment.start_run("sturdy")
    assert deployment.wait_for_task(run_id, "a", "running")["worker"] == "w1"

    deployment.kill("w1")
    deployment.start_worker("w2")

    run = deployment.wait_until(run_id)
    assert run["status"] == "succeeded"
    assert run["tasks"][0]["worker"] == "w2"
    history = deployment.history(run_id)
    assert set(terminal_events(history).values()) == {1}
    lost = [item for item in history if item["type"] == "TaskFailed"]
    assert [item["data"]["cause"] for item in lost] == ["worker_lost"]
    assert deployment.workers()["w1"] == "lost"


def test_garbage_on_the_dispatch_subject_does_not_stall_the_queue(deployment: Deployment) -> None:
    deployment.start("w1")
    deployment.apply("plain", [{"name": "a", "executor": "noop"}])
    subject = f"{deployment.settings.nats_prefix}.dispatch.default"

    async def publish_poison() -> None:
        client = await nats.connect(str(deployment.settings.nats_url))
        js = client.jetstream()
        for body in (b"not json", b'{"schema_version": 7}', b"{}"):
            await js.publish(subject, body)
        await client.close()

    asyncio.run(publish_poison())
    runs = [deployment.start_run("plain") for _ in range(3)]

    assert {deployment.wait_until(run_id)["status"] for run_id in runs} == {"succeeded"}
    assert "schema_version" in deployment.log("w1")


def test_a_worker_restarted_under_its_name_fails_the_attempt_its_killed_process_ran_at_once(
    deployment: Deployment,
) -> None:
    deployment.env.update(FAST_LIVENESS)
    deployment.start("w1")
    deployment.apply(
        "restarted",
        [{"name": "a", "command": "sleep 3", "retry": {"max_attempts": 3, "initial_seconds": 0}}],
    )
    wait_for(lambda: "w1" in deployment.workers(), "w1 was never registered")
    run_id = deployment.start_run("restarted")
    assert deployment.wait_for_task(run_id, "a", "running")["worker"] == "w1"
    # The new process of w1 is up before the old one dies, so "another w1 is alive" holds
    # throughout: attempts named by worker only would be left to the 30 s ack-wait redelivery.
    deployment.start_worker("w1-again", "--name", "w1")
    wait_for(lambda: len(instances_of(deployment, "w1")) == 2, "the new w1 never registered")

    deployment.kill("w1")

    wait_for(
        lambda: worker_lost_failures(deployment.history(run_id)) == [1],
        "the killed process's attempt was not failed as lost",
        within=ACK_WAIT_HANG,
    )
    run = deployment.wait_until(run_id)
    assert run["status"] == "succeeded"
    history = deployment.history(run_id)
    assert set(terminal_events(history).values()) == {1}
    assert ("a", 1) not in redelivered_starts(history)


ACK_WAIT_HANG = 15.0
"""Hang detector for failing a lost process's attempt: well below the dispatch ack wait (30 s),
after which JetStream would redeliver it anyway."""


def instances_of(deployment: Deployment, name: str) -> set[str]:
    items = deployment.http.get("/v1/workers").json()["items"]
    return {item["instance"] for item in items if item["name"] == name}


def worker_lost_failures(history: list[dict[str, Any]]) -> list[object]:
    return [
        item["data"]["attempt"]
        for item in history
        if item["type"] == "TaskFailed" and item["data"]["cause"] == "worker_lost"
    ]


def redelivered_starts(history: list[dict[str, Any]]) -> set[tuple[object, object]]:
    return {
        (item["data"]["task"], item["data"]["attempt"])
        for item in history
        if item["type"] == "TaskStarted" and item["data"]["delivery"] > 1
    }
