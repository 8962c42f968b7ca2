"""The nemesis: a seeded random mix of kills, pauses, restarts and partitions every few seconds,
while a client submits runs and another sends malformed requests and NATS messages.

The profile comes from the environment, so CI runs a short fixed-seed one and `make soak` a
long one: LEDGERFLOW_NEMESIS_SEED, LEDGERFLOW_NEMESIS_SECONDS, LEDGERFLOW_NEMESIS_INTERVAL
(seconds between faults), LEDGERFLOW_NEMESIS_RATE (runs submitted per second).
"""

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.bad_input import BadInput
from tests.faults.client import RequestLog
from tests.faults.proxy import Link
from tests.faults.rig import ENGINES, WORKERS, FaultRig
from tests.faults.workload import workload


@dataclass(frozen=True)
class Profile:
    seed: int = 8
    seconds: float = 20.0
    interval: float = 4.0
    rate: float = 1.0

    @classmethod
    def from_env(cls) -> "Profile":
        default = cls()

        def get(name: str, fallback: float) -> float:
            return float(os.environ.get(f"LEDGERFLOW_NEMESIS_{name}", fallback))

        return cls(
            seed=int(get("SEED", default.seed)),
            seconds=get("SECONDS", default.seconds),
            interval=get("INTERVAL", default.interval),
            rate=get("RATE", default.rate),
        )


@dataclass
class Probe:
    """A run submitted right after healing a fault, to time the recovery from it."""

    kind: str
    healed_at: float
    """Wall-clock seconds (the log's timestamps are wall-clock too)."""
    run_id: str
    next_fault_at: float | None = None
    """When the next fault began: a probe still running then measures both, not this one."""


Fault = tuple[str, Callable[[FaultRig, random.Random], None]]


def _kill(keys: tuple[str, ...]) -> Callable[[FaultRig, random.Random], None]:
    return lambda rig, draw: rig.deployment.kill(draw.choice(keys))


def _pause(keys: tuple[str, ...]) -> Callable[[FaultRig, random.Random], None]:
    return lambda rig, draw: rig.deployment.pause(draw.choice(keys))


def _cut_off_worker(rig: FaultRig, draw: random.Random) -> None:
    rig.proxies[f"{draw.choice(WORKERS)}-nats"].set(Link.blackhole())


def _slow_postgres(rig: FaultRig, draw: random.Random) -> None:
    rig.proxies[draw.choice(("engine-pg", "api-pg"))].set(Link(delay=0.02, jitter=0.1))


FAULTS: tuple[Fault, ...] = (
    ("kill -9 worker", _kill(WORKERS)),
    ("kill -9 engine", _kill(ENGINES)),
    ("SIGSTOP worker", _pause(WORKERS)),
    ("SIGSTOP engine", _pause(ENGINES)),
    ("worker <-> NATS partition", _cut_off_worker),
    ("PostgreSQL latency", _slow_postgres),
    (
        "engine <-> PostgreSQL partition",
        lambda rig, _: rig.proxies["engine-pg"].set(Link.blackhole()),
    ),
    ("nats-server kill -9", lambda rig, _: rig.stop_nats(signal.SIGKILL)),
)


class Nemesis:
    """Runs a profile against a rig: load and bad input in threads, faults in this one."""

    def __init__(self, rig: FaultRig, profile: Profile, requests: RequestLog) -> None:
        self.rig = rig
        self.profile = profile
        self.requests = requests
        self.bad_requests = RequestLog()
        self.probes: list[Probe] = []
        self._stop = threading.Event()

    def run(self) -> None:
        """Faults for `profile.seconds`, then every fault healed; load and bad input stop."""
        threads = [
            threading.Thread(target=self._load, name="nemesis-load"),
            threading.Thread(target=self._bad_input, name="nemesis-bad-input"),
        ]
        for thread in threads:
            thread.start()
        try:
            self._faults()
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=120)
            self.rig.heal()

    def _faults(self) -> None:
        draw = random.Random(self.profile.seed)
        client = self.rig.client(self.requests)
        end = time.monotonic() + self.profile.seconds
        while time.monotonic() < end:
            kind, inject = draw.choice(FAULTS)
            if self.probes:
                self.probes[-1].next_fault_at = time.time()
            inject(self.rig, draw)
            self.rig.fault(kind)
            time.sleep(draw.uniform(0.5, 1.5) * self.profile.interval)
            self.rig.heal()
            healed_at = time.time()
            if (run_id := client.submit("fault-chain", {"probe": kind})) is not None:
                self.probes.append(Probe(kind, healed_at, run_id))
        client.close()

    def _load(self) -> None:
        client = self.rig.client(self.requests)
        pause = 1.0 / self.profile.rate
        for submission in workload(self.profile.seed, size=10_000, crashes=True):
            if self._stop.wait(pause):
                break
            client.submit(submission.workflow, submission.inputs)
        client.close()

    def _bad_input(self) -> None:
        bad = BadInput(self.rig, self.bad_requests, random.Random(self.profile.seed + 1))
        try:
            while not self._stop.wait(0.2):
                bad.send_one()
        finally:
            bad.close()
