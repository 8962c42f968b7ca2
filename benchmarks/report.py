"""The reference figures of BENCHMARKS.md, log scanning, and the JSON and markdown reports."""

import json
import math
import re
from pathlib import Path
from typing import Any

SYSTEMS = ("Celery + Redis", "Procrastinate", "DBOS", "pgqueuer")
REFERENCES: dict[str, tuple[str, ...]] = {
    "W1": ("286", "219", "222", "390"),
    "W2": ("5.8 / 10.8", "10.8 / 23.8", "68 / 111", "91 / 123"),
    "W3": ("9.6", "11.3", "3.7", "29.2"),
    "W4": ("1 / 3", "519 / 536", "86 / 127", "—"),
    "worker_rss_w1": ("141", "76", "138", "95"),
}
UNITS = {
    "tasks_per_s": "tasks/s",
    "workflows_per_s": "workflows/s",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "api_p50_ms": "API p50 ms",
    "api_p99_ms": "API p99 ms",
}
HEADLINES = {
    "W2": ("p50_ms", "p99_ms"),
    "W4": ("p50_ms", "p99_ms"),
    "W4B": ("p50_ms", "p99_ms"),
    "W5": ("tasks_per_s", "api_p99_ms"),
}
"""The figures a workload's table row shows; its first figure unless listed."""
_PATTERNS: dict[str, tuple[str, str]] = {
    "up": (r"\bERROR\b|\bCRITICAL\b|Traceback", r"\bWARNING\b"),
    "postgres": (r"\b(?:ERROR|FATAL|PANIC):", r"\bWARNING:"),
    "nats": (r"\[(?:ERR|FTL)\]", r"\[WRN\]"),
}
_TIMESTAMP = re.compile(r"^[\[\d][\d:\-\s.,/\]]*(?:UTC\s+)?(?:\[\d+\]\s+)?")
EXAMPLES = 8


def scan_logs(log_dir: Path, stem: str) -> dict[str, dict[str, Any]]:
    """Count error and warning lines in the `up`, PostgreSQL and NATS logs, with examples."""
    found: dict[str, dict[str, Any]] = {}
    for name, (errors, warnings) in _PATTERNS.items():
        path = log_dir / f"{stem}-{name}.log"
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()
            found[name] = {
                "file": path.name,
                "errors": _matches(lines, errors),
                "warnings": _matches(lines, warnings),
            }
    return found


def _matches(lines: list[str], pattern: str) -> dict[str, Any]:
    regex = re.compile(pattern)
    hits = [line for line in lines if regex.search(line)]
    distinct: list[str] = []
    for line in hits:
        text = _TIMESTAMP.sub("", line).strip()[:240]
        if text not in distinct:
            distinct.append(text)
    return {"count": len(hits), "examples": distinct[:EXAMPLES]}


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def _spread_text(spread: dict[str, float]) -> str:
    return f"{_fmt(spread['median'])} ({_fmt(spread['min'])}-{_fmt(spread['max'])})"


def _workload_row(wid: str, data: dict[str, Any]) -> str:
    figures: dict[str, dict[str, float]] = data["figures"]
    headline = HEADLINES.get(wid, tuple(figures)[:1])
    ours = " / ".join(_spread_text(figures[name]) for name in headline)
    unit = " / ".join(UNITS[name] for name in headline)
    refs = " | ".join(REFERENCES.get(wid, ("—",) * len(SYSTEMS)))
    label = f"{wid} {data['title']} (N={data['size']})"
    return f"| {label} | {unit} | {ours} | {data['failures_total']} | {refs} |"


def _detail_lines(wid: str, data: dict[str, Any]) -> list[str]:
    lines = [
        f"- **{wid}**: {data['repeat']} x N={data['size']}; failures per rep "
        f"{data['failures_per_rep']}"
    ]
    for name, spread in data["figures"].items():
        lines.append(f"  - {name}: {_spread_text(spread)}")
    for name, spread in data["notes"].items():
        lines.append(f"  - {name}: {_spread_text(spread)}")
    cpu = data.get("cpu")
    if cpu:
        parts = ", ".join(
            f"{name[6:]} {value}"
            for name, value in cpu.items()
            if name not in ("cores_ours", "cores_others")
        )
        lines.append(
            f"  - CPU (average cores): Ledgerflow + client {cpu['cores_ours']} ({parts}); "
            f"other processes {cpu['cores_others']}"
        )
    events = data.get("events")
    if events:
        lines.append(
            f"  - events: {events['events_per_run']} per run, "
            f"{events['events_per_task']:.2f} per task ({events['tasks_per_run']} tasks/run)"
        )
    writes = data.get("writes")
    if writes:
        lines.append(
            f"  - written per task: {writes['wal_bytes_per_task']:.0f} WAL bytes (every table "
            f"and index), {writes['events_table_bytes_per_task']:.0f} bytes of events table, "
            f"{writes['events_per_task_written']:.2f} events"
        )
    return lines


def _memory_lines(memory: dict[str, Any]) -> list[str]:
    after_w1 = memory.get("after_W1")
    final = memory.get("final", {})
    lines = [
        "| process | peak after W1 MiB | peak overall MiB | measure |",
        "|---|---|---|---|",
    ]
    for name, mib in final.get("services_vmhwm_mib", {}).items():
        early = after_w1["services_vmhwm_mib"].get(name, "—") if after_w1 else "—"
        lines.append(f"| {name} | {early} | {mib} | VmHWM (peak RSS) |")
    for server in ("postgres", "nats"):
        early = after_w1[f"{server}_pss_mib_window"] if after_w1 else "—"
        lines.append(
            f"| {server} | {early} | {final.get(f'{server}_pss_mib_peak', '—')} | "
            "PSS sampled every 0.5 s"
            + (" (postmaster + all backends)" if server == "postgres" else "")
            + " |"
        )
    refs = ", ".join(
        f"{system} {ref}" for system, ref in zip(SYSTEMS, REFERENCES["worker_rss_w1"], strict=True)
    )
    lines.append("")
    lines.append(f"Reference worker RSS MiB (W1): {refs}.")
    return lines


def _log_lines(logs: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for scan in logs.values():
        errors, warnings = scan["errors"], scan["warnings"]
        lines.append(
            f"- {scan['file']}: {errors['count']} error lines, {warnings['count']} warnings"
        )
        lines += [f"  - error: `{text}`" for text in errors["examples"]]
        lines += [f"  - warning: `{text}`" for text in warnings["examples"]]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The human report: headline table with the reference figures, then details."""
    meta = result["meta"]
    header = (
        "| workload | figure | Ledgerflow median (min-max) | failures | "
        + " | ".join(SYSTEMS)
        + " |"
    )
    lines = [
        f"# Ledgerflow benchmarks {meta['timestamp']} ({meta['mode']}, repeat {meta['repeat']})",
        "",
        header,
        "|" + "---|" * (4 + len(SYSTEMS)),
    ]
    lines += [_workload_row(wid, data) for wid, data in result["workloads"].items()]
    lines += ["", "## Setup", ""]
    lines += [f"- {key}: {value}" for key, value in meta["setup"].items()]
    lines += ["", "## Details", ""]
    for wid, data in result["workloads"].items():
        lines += _detail_lines(wid, data)
    lines += ["", "## Memory", "", *_memory_lines(result["memory"])]
    lines += ["", "## Logs", "", *_log_lines(result["logs"])]
    if result.get("error"):
        lines += ["", f"**Aborted:** {result['error']}"]
    return "\n".join(lines) + "\n"
