"""The seeded workload: small DAGs of quick, napping, failing and worker-crashing python tasks."""

import random
from dataclasses import dataclass
from typing import Any

TARGETS = "tests.faults.tasks"
RETRIES = {"max_attempts": 4, "backoff": "fixed", "initial_seconds": 0.2, "jitter": False}
TASK_TIMEOUT_SECONDS = 20.0


def task(name: str, target: str, *after: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "executor": "python",
        "target": f"{TARGETS}:{target}",
        "depends_on": list(after),
        "timeout_seconds": TASK_TIMEOUT_SECONDS,
        "retry": RETRIES,
        **fields,
    }


WORKFLOWS: dict[str, list[dict[str, Any]]] = {
    "fault-chain": [task("a", "quick"), task("b", "quick", "a")],
    "fault-diamond": [
        task("a", "quick"),
        task("b", "nap", "a"),
        task("c", "quick", "a"),
        task("d", "quick", "b", "c"),
    ],
    "fault-nap": [task("a", "nap")],
    "fault-fail": [
        task("a", "fail", retry={**RETRIES, "max_attempts": 2}),
        task("b", "quick", "a"),
    ],
    "fault-crash": [task("a", "crash_worker")],
    # No task process at all: for floods, where the API is under test, not the workers.
    "fault-noop": [{"name": "a", "executor": "noop"}],
    # The same, under a name of its own, so its statistics count the backlog's runs only.
    "fault-backlog": [{"name": "a", "executor": "noop"}],
    # An executor the rig's workers do not run (see rig.WORKER_EXECUTORS): every delivery of
    # its dispatch is handed back, until it runs out of deliveries and is parked (a poison).
    "fault-poison": [{"name": "a", "executor": "http", "url": "https://poison.invalid/"}],
    "fault-cron": [{"name": "a", "executor": "noop"}],
    "fault-cron-once": [{"name": "a", "executor": "noop"}],
}
"""Every workflow the workload uses, by name (applied once per rig)."""

CRON = {
    "fault-cron": {"cron": "*/2 * * * * *", "misfire": "catch_up", "overlap": "allow"},
    "fault-cron-once": {"cron": "*/2 * * * * *", "misfire": "fire_once", "overlap": "allow"},
}
"""Workflows on a schedule: every 2 s, so every scenario has both engines' schedulers race
for ticks under its faults (the checker wants each tick decided exactly once: fired, or
recorded as missed when `fire_once` fires only the latest of the ticks due during a downtime)."""

MIX = (("fault-chain", 4), ("fault-diamond", 2), ("fault-nap", 2), ("fault-fail", 1))
"""Which workflows a workload draws, with weights; `fault-crash` only where a test asks."""


@dataclass(frozen=True)
class Submission:
    workflow: str
    inputs: dict[str, Any]


def workload(seed: int, size: int, *, crashes: bool = False) -> list[Submission]:
    """`size` submissions drawn with `seed`: the same seed gives the same workload."""
    draw = random.Random(seed)
    mix = [*MIX, *((("fault-crash", 1),) if crashes else ())]
    names = [name for name, _ in mix]
    weights = [weight for _, weight in mix]
    return [
        Submission(name, {"n": number, "nap": round(draw.uniform(0.2, 1.5), 2)})
        for number, name in enumerate(draw.choices(names, weights, k=size))
    ]
