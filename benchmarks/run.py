"""Run the benchmarks against a fresh `ledgerflow up` and write JSON and markdown reports."""

import argparse
import os
import platform
import signal
import subprocess
import sys
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from benchmarks import read_path
from benchmarks.client import Api
from benchmarks.cpu import CpuMeter
from benchmarks.harness import LedgerflowSystem
from benchmarks.memory import MemorySampler
from benchmarks.report import markdown, scan_logs, write_json
from benchmarks.schedules import schedule_workloads
from benchmarks.stats import spread
from benchmarks.workloads import Rep, Workload, events_per_task, plan, prepare, warm_up
from benchmarks.writes import write_mark, written_per_task

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_WORKER_CONCURRENCY = 4
API_PROCESSES = 2
"""API processes on one port: an API process computes on one core at a time (its GIL), and
the concurrent workloads (W5, the read path) spread their connections over both."""
WRITES_MEASURED = frozenset({"W1", "W2", "W3", "W5"})
"""Workloads whose PostgreSQL writes are reported per task (schedules add their own runs)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (W1 2000, W3 10, W5 1000)"
    )
    parser.add_argument("--repeat", type=_positive, default=3, help="repetitions per workload (3)")
    parser.add_argument(
        "--only", help="comma-separated workload ids, e.g. W1,W2; `read` for the read path"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds any one wait may take (300)",
    )
    parser.add_argument(
        "--nats-sync-always",
        action="store_true",
        help="run nats-server with `jetstream { sync_interval: always }`",
    )
    parser.add_argument(
        "--api-processes",
        type=_positive,
        default=API_PROCESSES,
        help=f"API processes `up` runs on one port (LEDGERFLOW_API_PROCESSES; {API_PROCESSES})",
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _selected(workloads: list[Workload], only: str | None) -> list[Workload]:
    if not only:
        return workloads
    wanted = {item.strip().upper() for item in only.split(",") if item.strip()}
    unknown = wanted - {workload.id for workload in workloads}
    if unknown:
        raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}")
    return [workload for workload in workloads if workload.id in wanted]


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=RESULTS_DIR.parent.parent,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
            cwd=RESULTS_DIR.parent.parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")


def _meta(args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    concurrency = os.environ.get("LEDGERFLOW_WORKER_CONCURRENCY", str(DEFAULT_WORKER_CONCURRENCY))
    nats = (
        "sync_interval: always"
        if args.nats_sync_always
        else "defaults (JetStream sync_interval 2 min)"
    )
    return {
        "timestamp": stamp,
        "mode": "quick" if args.quick else "full",
        "repeat": args.repeat,
        "setup": {
            "checkout_git": _git_revision(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}",
            "python": platform.python_version(),
            "worker_concurrency": concurrency,
            "api_processes": args.api_processes,
            "nats": nats,
            "client": "one process, one thread, one http.client keep-alive connection, long polls",
        },
    }


def _postgres_settings(url: str | None) -> dict[str, str]:
    """fsync, synchronous_commit and version as the embedded server reports them."""
    if url is None:
        return {"postgres": "URL not found in the up log"}
    names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            values = {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}  # type: ignore[index]
    except psycopg.Error as error:
        return {"postgres": f"could not read settings: {error}"}
    return {f"postgres_{name}": value for name, value in values.items()}


def _summary(
    workload: Workload, reps: list[Rep], events: dict[str, float] | None
) -> dict[str, Any]:
    notes = sorted({name for rep in reps for name in rep.notes})
    return {
        "title": workload.title,
        "size": workload.size,
        "repeat": len(reps),
        "figures": {
            name: spread([rep.figures[name] for rep in reps]).as_dict() for name in workload.figures
        },
        "notes": {
            name: spread([rep.notes[name] for rep in reps if name in rep.notes]).as_dict()
            for name in notes
        },
        "failures_total": sum(rep.failures for rep in reps),
        "failures_per_rep": [rep.failures for rep in reps],
        "events": events,
        "reps": [vars(rep) | {"failures": rep.failures} for rep in reps],
    }


def _run_workload(api: Api, workload: Workload, repeat: int, timeout_s: float) -> dict[str, Any]:
    mark = write_mark(api.database_url) if api.database_url else None
    reps: list[Rep] = []
    for index in range(repeat):
        rep = workload.body(api, workload.size, timeout_s)
        shown = ", ".join(f"{name}={value:.1f}" for name, value in rep.figures.items())
        _log(
            f"{workload.id} rep {index + 1}/{repeat}: {shown}; failures {rep.failures}; "
            f"{rep.elapsed_s:.1f} s"
        )
        reps.append(rep)
    sample = reps[-1].sample_run
    events = events_per_task(api, sample) if sample else None
    summary = _summary(workload, reps, events)
    if mark is not None and events is not None and workload.id in WRITES_MEASURED:
        runs = sum(rep.items - rep.failures for rep in reps)
        tasks = int(runs * events["tasks_per_run"])
        summary["writes"] = written_per_task(str(api.database_url), mark, tasks)
    return summary


def _run_all(
    system: LedgerflowSystem,
    workloads: list[Workload],
    args: argparse.Namespace,
    result: dict[str, Any],
) -> None:
    sampler = MemorySampler(system.pids)
    sampler.start()
    api = Api(system.base_url)
    api.database_url = system.database_url()
    try:
        prepare(api)
        warm = warm_up(api, args.timeout)
        result["warm_up"] = {"not_succeeded": warm.not_succeeded, "timed_out": warm.timed_out}
        _log(f"warm-up done ({len(warm.statuses)} runs finished)")
        cpu = CpuMeter(system.pids)
        for workload in workloads:
            sampler.new_window()
            cpu.start()
            summary = _run_workload(api, workload, args.repeat, args.timeout)
            summary["cpu"] = cpu.since()
            result["workloads"][workload.id] = summary
            result["memory"][f"after_{workload.id}"] = sampler.snapshot()
    finally:
        result["memory"]["final"] = sampler.snapshot()
        result["api_errors"] = api.errors
        api.close()
        sampler.stop()


def _finish(result: dict[str, Any], stamp: str) -> None:
    result["logs"] = scan_logs(RESULTS_DIR, stamp)
    write_json(RESULTS_DIR / f"{stamp}.json", result)
    text = markdown(result)
    (RESULTS_DIR / f"{stamp}.md").write_text(text)
    print(text)
    _log(f"wrote {RESULTS_DIR / stamp}.json and .md; logs {stamp}-*.log")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (args.only or "").strip().lower() == "read":  # its own servers: see benchmarks/read_path
        return read_path.main(
            [
                *(["--quick"] if args.quick else []),
                *("--repeat", str(args.repeat), "--api-processes", str(args.api_processes)),
            ]
        )
    workloads = _selected(plan(args.quick) + schedule_workloads(args.quick), args.only)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background (SIG_IGN)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    result: dict[str, Any] = {"meta": _meta(args, stamp), "workloads": {}, "memory": {}}
    code = 0
    try:
        with LedgerflowSystem(
            RESULTS_DIR,
            stamp,
            worker_concurrency=None,
            nats_sync_always=args.nats_sync_always,
            api_processes=args.api_processes,
        ) as system:
            _log(f"ledgerflow up at {system.base_url} (data {system.data_dir})")
            result["meta"]["setup"]["ledgerflow_code"] = system.code_location()
            result["meta"]["setup"].update(_postgres_settings(system.database_url()))
            _run_all(system, workloads, args, result)
    except KeyboardInterrupt:
        result["error"] = "interrupted"
        code = 130
    except Exception as error:
        traceback.print_exc()
        result["error"] = repr(error)
        code = 1
    finally:
        _finish(result, stamp)
    return code


if __name__ == "__main__":
    sys.exit(main())
