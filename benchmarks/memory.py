"""Peak memory of a running Ledgerflow: VmHWM of its services, sampled PSS of its servers."""

import threading
from dataclasses import dataclass, field

from benchmarks import procfs

SAMPLE_INTERVAL_S = 0.5
KIB_PER_MIB = 1024.0


@dataclass
class Pids:
    """The processes of one `ledgerflow up`: its Python services and its two servers."""

    services: dict[str, int]
    postgres: int | None
    nats: int | None


@dataclass
class _Peaks:
    postgres_pss_kib: int = 0
    nats_pss_kib: int = 0
    postgres_processes: int = 0

    def merge(self, postgres: int, nats: int, count: int) -> None:
        self.postgres_pss_kib = max(self.postgres_pss_kib, postgres)
        self.nats_pss_kib = max(self.nats_pss_kib, nats)
        self.postgres_processes = max(self.postgres_processes, count)


@dataclass
class MemorySampler:
    """Samples the servers' PSS every half second in a daemon thread; reads VmHWM on demand."""

    pids: Pids
    interval_s: float = SAMPLE_INTERVAL_S
    _overall: _Peaks = field(default_factory=_Peaks)
    _window: _Peaks = field(default_factory=_Peaks)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def new_window(self) -> None:
        """Start a new per-workload window for the sampled (PSS) peaks."""
        with self._lock:
            self._window = _Peaks()

    def snapshot(self) -> dict[str, object]:
        """Peaks so far: VmHWM per service (cumulative), PSS of the servers (window, overall)."""
        self._sample()
        with self._lock:
            window, overall = self._window, self._overall
        return {
            "services_vmhwm_mib": self._service_peaks(),
            "postgres_pss_mib_window": _mib(window.postgres_pss_kib),
            "nats_pss_mib_window": _mib(window.nats_pss_kib),
            "postgres_pss_mib_peak": _mib(overall.postgres_pss_kib),
            "nats_pss_mib_peak": _mib(overall.nats_pss_kib),
            "postgres_processes_peak": overall.postgres_processes,
            "nats_vmhwm_mib": _mib(self._vmhwm(self.pids.nats)),
        }

    def _service_peaks(self) -> dict[str, float]:
        return {name: _mib(self._vmhwm(pid)) for name, pid in self.pids.services.items()}

    @staticmethod
    def _vmhwm(pid: int | None) -> int:
        if pid is None:
            return 0
        return procfs.status_kib(pid, "VmHWM") or 0

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        postgres, count = self._postgres_pss()
        nats = 0 if self.pids.nats is None else procfs.pss_kib(self.pids.nats) or 0
        with self._lock:
            self._overall.merge(postgres, nats, count)
            self._window.merge(postgres, nats, count)

    def _postgres_pss(self) -> tuple[int, int]:
        """PSS summed over the postmaster and all its children (shared memory counted once)."""
        root = self.pids.postgres
        if root is None:
            return 0, 0
        tree = [root, *procfs.descendants(root)]
        return sum(procfs.pss_kib(pid) or 0 for pid in tree), len(tree)


def _mib(kib: int) -> float:
    return round(kib / KIB_PER_MIB, 1)
