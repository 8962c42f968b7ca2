"""The history benchmark: reading a 10,000-event run's history over HTTP, rebuilding that run
as it stood at its 5,000th event, and replaying a large log into every read model.

    python -m benchmarks.history [--events N] [--repeat R]

A run of about 10,000 events is written by batched appends (benchmarks/long_run.py); then
(a) every page of `GET /v1/runs/{id}/events?limit=500` is read, and (b)
`GET /v1/runs/{id}?as_of_version=5000` is read, each R times (median ms, one warm-up first).
Runs are snapshotted every 500 versions (ADR 21), so 5000 starts from a snapshot; (b') reads
version 5499, the worst case: the snapshot at 5000 and 499 events after it. Each read also
reports the API process's CPU time, which a busy shared machine inflates less than wall time.
(c) The log is grown to N events by batched appends (benchmarks/seed.py; 1,000,000 by
default) and the online Rebuilder (projections/rebuild.py) rebuilds every read model from
position 0 (events/s). PostgreSQL (fsync and synchronous commit on) and NATS are the embedded
servers; the API is one real `ledgerflow api` process. Not a test: nothing asserts a figure.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import procfs
from benchmarks.long_run import write_long_run
from benchmarks.read_api import ReadApi
from benchmarks.report import write_json
from benchmarks.seed import seed
from benchmarks.stats import spread
from engine.application import Ledgerflow
from engine.snapshots import RUN_SNAPSHOT_INTERVAL
from ops.system import build_engine, build_rebuilder, read_models

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PAGE = 500
AS_OF_VERSION = 5000
AS_OF_WORST_VERSION = AS_OF_VERSION + RUN_SNAPSHOT_INTERVAL - 1
"""The most events replayed after a snapshot."""
GOALS = {"history_ms": 200.0, "as_of_ms": 100.0}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.history",
        description="The history benchmark (see benchmarks/history.py).",
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="log size for (c)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of (a) and (b)")
    return parser


def _log(message: str) -> None:
    print(f"[history] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with ReadApi(RESULTS_DIR / f"{stamp}-history-api.log") as api:
        engine = build_engine(api.settings)
        try:
            api_pid = api.started[0].pid if api.started else os.getpid()
            result = _measure(engine, api.base_url, api_pid, events=args.events, repeat=args.repeat)
        finally:
            engine.close()
        result["meta"] = {"timestamp": stamp, "repeat": args.repeat, **api.setup()}
    write_json(RESULTS_DIR / f"{stamp}-history.json", result)
    text = markdown(result)
    (RESULTS_DIR / f"{stamp}-history.md").write_text(text)
    print(text)
    return 0


def _measure(
    engine: Ledgerflow, base_url: str, api_pid: int, *, events: int, repeat: int
) -> dict[str, Any]:
    long_run = write_long_run(engine)
    _log(f"wrote a {long_run.events}-event run in {long_run.seconds:.1f} s")
    run_path = f"/v1/runs/{long_run.run_id}"
    with httpx.Client(base_url=base_url, timeout=60) as client:
        history = _timed(lambda: _read_history(client, run_path, long_run.events), repeat, api_pid)
        as_of = _timed(lambda: _read_as_of(client, run_path, AS_OF_VERSION), repeat, api_pid)
        worst = _timed(lambda: _read_as_of(client, run_path, AS_OF_WORST_VERSION), repeat, api_pid)
    _log(
        f"history {history['median']:.1f} ms, as_of {as_of['median']:.1f} ms, "
        f"as_of worst {worst['median']:.1f} ms (medians); API CPU "
        f"{history['api_cpu']['median']:.0f}, {as_of['api_cpu']['median']:.0f}, "
        f"{worst['api_cpu']['median']:.0f} ms"
    )
    seeded = seed(engine, events)
    _log(f"seeded {seeded.events} events in {seeded.seconds:.1f} s; head {seeded.head}")
    rebuilt = build_rebuilder(engine).rebuild(read_models())
    replay = {
        r.name: {"events": r.events, "seconds": r.seconds, "events_per_s": r.events / r.seconds}
        for r in rebuilt
    }
    total_s = sum(r.seconds for r in rebuilt)
    return {
        "long_run": {"events": long_run.events, "write_seconds": long_run.seconds},
        "history_ms": history,
        "as_of_ms": as_of,
        "as_of_worst_ms": worst,
        "seeded": vars(seeded) | {"events_per_s": seeded.events_per_s},
        "rebuild": {"head": seeded.head, "seconds": total_s, "read_models": replay},
    }


def _timed(read: Callable[[], None], repeat: int, api_pid: int) -> dict[str, Any]:
    """Milliseconds per call of `read`, after one unmeasured warm-up: median, min, max; and
    under `api_cpu` the API process's CPU time per call (10 ms ticks), which other load on a
    shared machine inflates far less than the elapsed time."""
    read()
    samples, cpu = [], []
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    for _ in range(repeat):
        ticks = procfs.process_ticks(api_pid)
        started = time.perf_counter()
        read()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((procfs.process_ticks(api_pid) - ticks) * tick_ms)
    return spread(samples).as_dict() | {"api_cpu": spread(cpu).as_dict()}


def _read_history(client: httpx.Client, run_path: str, events: int) -> None:
    """Every page of the run's events, following `next_cursor`."""
    params: dict[str, Any] = {"limit": PAGE}
    seen = 0
    while True:
        response = client.get(f"{run_path}/events", params=params)
        response.raise_for_status()
        page = response.json()
        seen += len(page["items"])
        if page["next_cursor"] is None:
            break
        params = {"limit": PAGE, "cursor": page["next_cursor"]}
    if seen != events:
        msg = f"read {seen} events of {events}"
        raise RuntimeError(msg)


def _read_as_of(client: httpx.Client, run_path: str, version: int) -> None:
    response = client.get(run_path, params={"as_of_version": version})
    response.raise_for_status()
    if response.json()["version"] != version:
        msg = f"expected version {version}, got {response.json()['version']}"
        raise RuntimeError(msg)


def markdown(result: dict[str, Any]) -> str:
    """The three figures with their goals, then the details."""
    meta, rebuild = result["meta"], result["rebuild"]
    events_per_s = rebuild["head"] * len(rebuild["read_models"]) / rebuild["seconds"]
    lines = [
        f"# Ledgerflow history {meta['timestamp']} (repeat {meta['repeat']})",
        "",
        "| figure | median (min-max) | goal |",
        "|---|---|---|",
        f"| (a) `GET /v1/runs/{{id}}/events`, all pages of {PAGE}, "
        f"{result['long_run']['events']}-event run, ms | {_spread(result['history_ms'])} "
        f"| < {GOALS['history_ms']:g} |",
        f"| (b) `GET /v1/runs/{{id}}?as_of_version={AS_OF_VERSION}`, ms "
        f"| {_spread(result['as_of_ms'])} | < {GOALS['as_of_ms']:g} |",
        f"| (b') `GET /v1/runs/{{id}}?as_of_version={AS_OF_WORST_VERSION}` (snapshot + "
        f"{RUN_SNAPSHOT_INTERVAL - 1} events), ms | {_spread(result['as_of_worst_ms'])} "
        f"| < {GOALS['as_of_ms']:g} |",
        "| API process CPU ms per read of (a); (b); (b') "
        f"| {'; '.join(_spread(result[key]['api_cpu']) for key in _READS)} | |",
        f"| (c) rebuild of every read model over {rebuild['head']} events, events/s "
        f"(log events x read models / s) | {events_per_s:.0f} | |",
        "",
        "## Rebuild, per read model",
        "",
        *(
            f"- {name}: {m['events']} events in {m['seconds']:.1f} s "
            f"({m['events_per_s']:.0f} events/s)"
            for name, m in rebuild["read_models"].items()
        ),
        "",
        "## Setup",
        "",
        f"- seeded: {result['seeded']}",
        *(f"- {key}: {value}" for key, value in meta.items()),
    ]
    return "\n".join(lines) + "\n"


_READS = ("history_ms", "as_of_ms", "as_of_worst_ms")


def _spread(values: dict[str, float]) -> str:
    return f"{values['median']:.1f} ({values['min']:.1f}-{values['max']:.1f})"


if __name__ == "__main__":
    sys.exit(main())
