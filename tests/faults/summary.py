"""The at-a-glance summary of a fault run: faults by kind, what the checker counted, recovery."""

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.checker import Findings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Summary:
    """Accumulates over the scenarios of a session; `render` is what a person reads."""

    faults: Counter[str] = field(default_factory=Counter)
    recoveries: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    checks: list[tuple[str, Findings]] = field(default_factory=list)

    def fault(self, kind: str) -> None:
        self.faults[kind] += 1

    def recovered(self, kind: str, seconds: float) -> None:
        self.recoveries[kind].append(seconds)

    def checked(self, scenario: str, findings: Findings) -> None:
        self.checks.append((scenario, findings))

    def render(self) -> str:
        lines = ["fault injection summary", ""]
        lines += ["faults injected:"]
        lines += [f"  {kind:<28} {count}" for kind, count in sorted(self.faults.items())]
        lines += [
            "",
            f"{'scenario':<40} accepted lost dup-out dup-exec cron-bad proj 5xx 503 "
            "nats-left parked broken",
        ]
        for scenario, f in self.checks:
            lines.append(
                f"{scenario[:40]:<40} {f.accepted:>8} {len(f.lost):>4} "
                f"{len(f.duplicate_outcomes):>7} {f.duplicate_executions:>8} {len(f.cron):>8} "
                f"{len(f.projection_mismatches):>4} {len(f.server_errors):>3} "
                f"{f.status_503:>3} {len(f.nats_leftovers):>9} {f.parked:>6} {len(f.broken):>6}"
            )
        lines += [
            "",
            "columns: runs accepted (2xx), lost, duplicate outcomes, duplicate executions"
            " (measured, allowed), cron ticks not decided exactly once, projection mismatches,"
            " 5xx other than 503 with Retry-After, 503s, consumers and streams that still owed"
            " or held messages after settling (unexplained), messages parked (unreadable or"
            " out of deliveries; each checked against the log), broken invariants",
        ]
        lines += ["", "recovery after the fault was removed (s):"]
        for kind, values in sorted(self.recoveries.items()):
            lines.append(
                f"  {kind:<28} n={len(values):<3} p50={statistics.median(values):6.2f}"
                f" p99={percentile(values, 0.99):6.2f}"
            )
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        path.write_text(self.render(), encoding="utf-8")
