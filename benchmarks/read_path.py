"""The read-path benchmark: a large history seeded by batched appends, the read models catching
up with it, one API process read by 50 concurrent clients, and a full rebuild of the runs read
model.

    python -m benchmarks.read_path [--quick] [--events N] [--seconds S] [--repeat R]
    python -m benchmarks.run --only read [--quick] [--repeat R]

The history is seeded once. Each repetition then resets every read model and times its
catch-up from position 0 (events/s, all read models following the log side by side as the
engine process runs them); drives `GET /v1/runs?status=failed&limit=50` and
`GET /v1/runs/{id}` alternately from 50 concurrent clients for a fixed time (req/s,
p50/p99 ms); and resets the runs read model alone and times its rebuild. PostgreSQL (fsync
and synchronous commit on) and NATS are the embedded servers; the API is one real
`ledgerflow api` process (uvicorn). Not a test: nothing here asserts a figure.
"""

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eventsourcing.postgres import PostgresFactory

from benchmarks.cpu import CpuMeter
from benchmarks.read_api import ReadApi
from benchmarks.read_load import Read, drive
from benchmarks.report import write_json
from benchmarks.seed import seed
from benchmarks.stats import spread
from engine.application import Ledgerflow
from ops.system import build_engine, build_projection, build_runs_tables, read_models

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HANG_S = 900.0
WARM_UP_S = 2.0
API_PROCESSES = 2
"""API processes serving the reads: one is bound to one core by its GIL."""
LIST_FAILED = "/v1/runs?status=failed&limit=50"
GOALS: dict[str, tuple[str, float]] = {
    "req_per_s": (">=", 1500.0),
    "p99_ms": ("<=", 25.0),
    "catch_up_events_per_s": (">=", 5000.0),
}
HEADLINE = (
    ("req_per_s", "reads/s (50 clients, both reads)"),
    ("p50_ms", "p50 ms (both reads)"),
    ("p99_ms", "p99 ms (both reads)"),
    ("list_failed_p99_ms", "p99 ms `GET /v1/runs?status=failed&limit=50`"),
    ("get_run_p99_ms", "p99 ms `GET /v1/runs/{id}`"),
    ("catch_up_events_per_s", "catch-up events/s (every read model)"),
    ("rebuild_runs_s", "full rebuild of the runs read model, s"),
    ("rebuild_runs_events_per_s", "runs read model rebuild events/s"),
)


@dataclass(frozen=True)
class CatchUp:
    """Seconds each read model took from position 0 to the head of the log."""

    head: int
    seconds: dict[str, float]

    @property
    def events_per_s(self) -> float:
        return self.head / max(self.seconds.values())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.read_path",
        description="The read-path benchmark (see benchmarks/read_path.py).",
    )
    parser.add_argument("--quick", action="store_true", help="10,000 events, 5 s of reads")
    parser.add_argument("--events", type=int, help="events to seed (100,000; quick 10,000)")
    parser.add_argument("--seconds", type=float, help="seconds of reads per repetition (20)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent readers (50)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (3)")
    parser.add_argument(
        "--api-processes",
        type=int,
        default=API_PROCESSES,
        help=f"API processes sharing the port ({API_PROCESSES})",
    )
    return parser


def _log(message: str) -> None:
    print(f"[read] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    events = args.events or (10_000 if args.quick else 100_000)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with ReadApi(RESULTS_DIR / f"{stamp}-read-api.log", processes=args.api_processes) as api:
        _log(f"ledgerflow api at {api.base_url}")
        engine = build_engine(api.settings)
        try:
            result = _measure(
                engine,
                api,
                events=events,
                seconds=seconds,
                clients=args.clients,
                repeat=args.repeat,
            )
        finally:
            engine.close()
        setup = api.setup()
    result["meta"] = {
        "timestamp": stamp,
        "events": events,
        "seconds": seconds,
        "clients": args.clients,
        "repeat": args.repeat,
        **setup,
    }
    write_json(RESULTS_DIR / f"{stamp}-read.json", result)
    text = markdown(result)
    (RESULTS_DIR / f"{stamp}-read.md").write_text(text)
    print(text)
    _log(f"wrote {RESULTS_DIR / stamp}-read.json and .md")
    return 0


def _measure(
    engine: Ledgerflow, api: ReadApi, *, events: int, seconds: float, clients: int, repeat: int
) -> dict[str, Any]:
    seeded = seed(engine, events)
    _log(f"seeded {seeded.events} events ({seeded.runs} runs) in {seeded.seconds:.1f} s")
    reps: list[dict[str, float]] = []
    cpu: dict[str, float] = {}
    for index in range(repeat):
        catch_up = _catch_up(engine, seeded.head)
        reads = _reads(api.some_run_ids())
        meter = CpuMeter(api.pids())
        load = drive(api.base_url, reads, clients=clients, seconds=seconds, warm_up_s=WARM_UP_S)
        cpu = meter.since()
        rebuild_s = _rebuild_runs(engine, seeded.head)
        rep = {
            **load.figures(),
            "failures": float(load.failures),
            "catch_up_events_per_s": catch_up.events_per_s,
            **{f"catch_up_{name}_s": value for name, value in catch_up.seconds.items()},
            "rebuild_runs_s": rebuild_s,
            "rebuild_runs_events_per_s": seeded.head / rebuild_s,
        }
        shown = ", ".join(f"{name}={value:.1f}" for name, value in rep.items())
        _log(f"rep {index + 1}/{repeat}: {shown}")
        reps.append(rep)
    return {
        "seeded": vars(seeded) | {"events_per_s": seeded.events_per_s},
        "figures": {name: spread([rep[name] for rep in reps]).as_dict() for name in reps[0]},
        "reps": reps,
        "cpu_during_reads_last_rep": cpu,
        "explain_list_failed": api.explain_list_failed(),
    }


def _reads(run_ids: list[str]) -> dict[str, Read]:
    """The two reads: the failed runs' first page, and one run by id (a different one each)."""
    return {
        "list_failed": lambda n: LIST_FAILED,
        "get_run": lambda n: f"/v1/runs/{run_ids[n % len(run_ids)]}",
    }


def _catch_up(engine: Ledgerflow, head: int) -> CatchUp:
    """Reset every read model, then follow the log with all of them until each reaches `head`."""
    datastore = _datastore(engine)
    models = read_models()
    for model in models:
        model.tables(datastore).reset(engine.name)
    followers = [build_projection(engine, model) for model in models]
    return CatchUp(head, asyncio.run(_until_caught_up(followers, head)))


def _rebuild_runs(engine: Ledgerflow, head: int) -> float:
    """Seconds the runs read model takes to catch up with `head` after a reset."""
    build_runs_tables(engine).reset(engine.name)
    runs = next(model for model in read_models() if model.name == "runs")
    seconds = asyncio.run(_until_caught_up([build_projection(engine, runs)], head))
    return seconds["runs"]


async def _until_caught_up(followers: Sequence[Any], head: int) -> dict[str, float]:
    stop = asyncio.Event()
    started = time.perf_counter()
    tasks = [asyncio.create_task(follower.run(stop)) for follower in followers]
    reached: dict[str, float] = {}
    try:
        while len(reached) < len(followers):
            if time.perf_counter() - started > HANG_S:
                msg = f"read models did not reach position {head} in {HANG_S:.0f} s"
                raise TimeoutError(msg)
            for follower in followers:
                if follower.name not in reached and follower.position >= head:
                    reached[follower.name] = time.perf_counter() - started
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return reached


def _datastore(engine: Ledgerflow) -> Any:
    factory = engine.factory
    assert isinstance(factory, PostgresFactory)
    return factory.datastore


def markdown(result: dict[str, Any]) -> str:
    """The headline figures with their goals, then the details."""
    meta, figures = result["meta"], result["figures"]
    lines = [
        f"# Ledgerflow read path {meta['timestamp']} ({meta['events']} events seeded, "
        f"{meta['clients']} clients, {meta['seconds']:g} s of reads, repeat {meta['repeat']})",
        "",
        "| figure | median (min-max) | goal |",
        "|---|---|---|",
    ]
    for name, label in HEADLINE:
        if name in figures:
            goal = GOALS.get(name)
            shown = f"{goal[0]} {goal[1]:g}" if goal else ""
            lines.append(f"| {label} | {_spread(figures[name])} | {shown} |")
    seeded = result["seeded"]
    lines += [
        "",
        "## Details",
        "",
        f"- seeded {seeded['events']} events ({seeded['runs']} runs, batches of 100 runs per "
        f"transaction) in {seeded['seconds']:.1f} s ({seeded['events_per_s']:.0f} events/s)",
        *(f"- {name}: {_spread(spread_)}" for name, spread_ in figures.items()),
        f"- CPU during the last reads (cores): {result['cpu_during_reads_last_rep']}",
        "",
        "## Setup",
        "",
        *(f"- {key}: {value}" for key, value in meta.items()),
        "",
        "## EXPLAIN ANALYZE of the failed-runs list",
        "",
        "```",
        *result["explain_list_failed"],
        "```",
    ]
    return "\n".join(lines) + "\n"


def _spread(values: dict[str, float]) -> str:
    return f"{values['median']:.1f} ({values['min']:.1f}-{values['max']:.1f})"


if __name__ == "__main__":
    sys.exit(main())
