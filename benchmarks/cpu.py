"""CPU used by each Ledgerflow process and the client, versus anything else, per workload."""

import os
import time
from dataclasses import dataclass

from benchmarks import procfs
from benchmarks.memory import Pids

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Mark:
    at: float
    machine: int
    parts: dict[str, int]


class CpuMeter:
    """Marks CPU ticks at a workload's start; `since` gives the cores each part used since."""

    def __init__(self, pids: Pids) -> None:
        self.pids = pids
        self._mark = self._now()

    def start(self) -> None:
        self._mark = self._now()

    def since(self) -> dict[str, float]:
        """Average cores busy since `start`: per part, ours in total, and everyone else's."""
        now = self._now()
        seconds = max(now.at - self._mark.at, 1e-9)

        def cores(ticks: int) -> float:
            return round(ticks / TICKS_PER_S / seconds, 2)

        used = {name: max(now.parts[name] - self._mark.parts.get(name, 0), 0) for name in now.parts}
        ours = sum(used.values())
        figures = {f"cores_{name}": cores(ticks) for name, ticks in used.items()}
        figures["cores_ours"] = cores(ours)
        figures["cores_others"] = cores(max(now.machine - self._mark.machine - ours, 0))
        return figures

    def _now(self) -> _Mark:
        return _Mark(time.monotonic(), procfs.machine_busy_ticks(), self._parts())

    def _parts(self) -> dict[str, int]:
        parts = {"client": procfs.process_ticks(os.getpid())}
        for name, pid in self.pids.services.items():
            parts[name] = procfs.process_ticks(pid)
        if self.pids.postgres is not None:
            # Backends that exited were reaped by the postmaster: their time is in its cutime.
            root = procfs.process_ticks(self.pids.postgres, reaped_children=True)
            live = procfs.descendants(self.pids.postgres)
            parts["postgres"] = root + sum(procfs.process_ticks(pid) for pid in live)
        if self.pids.nats is not None:
            parts["nats"] = procfs.process_ticks(self.pids.nats)
        return parts
