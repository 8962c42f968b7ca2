"""The event relay's throughput (events published and acked per second) and its commit-to-
subscriber lag at a steady write rate, on embedded PostgreSQL and nats-server.

    python -m benchmarks.event_relay                      # 20,000 events; lag at 1,000/s for 10 s
    python -m benchmarks.event_relay --events 50000 --rate 2000 --seconds 20
"""

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from aggregates.run import Run
from aggregates.spec import WorkflowSpec
from engine.application import Ledgerflow
from engine.cloud_events import cloud_event_id
from ops.embedded import EmbeddedNats, EmbeddedPostgres
from ops.events import build_event_relay
from ops.migrate import migrate
from ops.settings import Settings
from ops.system import build_engine
from streams.event_relay import EventRelay
from streams.subjects import Subjects

RUNS_PER_SAVE = 50  # two events each (RunStarted, TaskQueued)
SPEC = WorkflowSpec.model_validate({"name": "bench", "tasks": [{"name": "t", "executor": "noop"}]})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.event_relay")
    parser.add_argument("--events", type=int, default=20_000, help="backlog to relay")
    parser.add_argument("--rate", type=int, default=1_000, help="events/s for the lag test")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the lag test")
    return parser


def _save_runs(engine: Ledgerflow, count: int) -> list[tuple[int, float]]:
    """Commit `count` one-task runs in one transaction; (position, commit time) of each event."""
    origin = engine.origin("bench")
    runs = [
        Run.start(
            run_id=uuid4(),
            tenant="default",
            spec=SPEC,
            workflow_version=1,
            inputs={},
            request_hash="bench",
            trigger="api",
            origin=origin,
        )
        for _ in range(count)
    ]
    recordings = engine.save(*runs)
    committed = time.perf_counter()
    return [(recording.notification.id, committed) for recording in recordings]


def _seed(engine: Ledgerflow, events: int) -> None:
    for _ in range(max(1, events // (2 * RUNS_PER_SAVE))):
        _save_runs(engine, RUNS_PER_SAVE)


async def _throughput(relay: EventRelay, engine: Ledgerflow) -> tuple[int, float]:
    head = engine.recorder.max_notification_id() or 0
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    while relay.position < head:  # noqa: ASYNC110 (the relay exposes a position, not an event)
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return head, elapsed


async def _lag(
    relay: EventRelay,
    *,
    engine: Ledgerflow,
    nats_url: str,
    subjects: Subjects,
    rate: int,
    seconds: float,
) -> list[float]:
    """Commit `rate` events/s for `seconds` while a JetStream consumer receives them."""
    nc = await nats.connect(nats_url)
    received: dict[str, float] = {}

    async def on_message(message: Msg) -> None:
        received[message.header.get("Nats-Msg-Id", "") if message.header else ""] = (
            time.perf_counter()
        )

    await nc.jetstream().subscribe(
        subjects.events_wildcard,
        cb=on_message,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    commits: list[tuple[int, float]] = []
    writer = threading.Thread(target=_write, args=(engine, rate, seconds, commits))
    writer.start()
    await asyncio.to_thread(writer.join)
    deadline = time.perf_counter() + 30
    while len(received) < len(commits) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await task
    await nc.close()
    return [
        (received[cloud_event_id(p)] - at) * 1000
        for p, at in commits
        if cloud_event_id(p) in received
    ]


def _write(engine: Ledgerflow, rate: int, seconds: float, commits: list[tuple[int, float]]) -> None:
    per_save = max(1, rate // 100 // 2)  # a save every ~10 ms
    interval = 2 * per_save / rate
    start = time.perf_counter()
    tick = 0
    while time.perf_counter() - start < seconds:
        commits.extend(_save_runs(engine, per_save))
        tick += 1
        pause = start + tick * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)


async def _main(args: argparse.Namespace, database_url: str, nats_url: str) -> None:
    settings = Settings(database_url=database_url, nats_url=nats_url, schema="bench", pool_size=8)
    migrate(settings)
    engine = build_engine(settings)
    subjects = Subjects(settings.nats_prefix)
    nc = await nats.connect(nats_url)
    try:
        _log(f"seeding {args.events} events")
        await asyncio.to_thread(_seed, engine, args.events)
        relay = await build_event_relay(engine, nc, nc.jetstream(), settings)
        count, elapsed = await _throughput(relay, engine)
        publisher = relay.publisher
        print(
            f"relay throughput: {count} events in {elapsed:.2f} s = {count / elapsed:,.0f} "
            f"events/s published and acked ({publisher.one_by_one} sent one by one)"
        )
        lags = await _lag(
            relay,
            engine=engine,
            nats_url=nats_url,
            subjects=subjects,
            rate=args.rate,
            seconds=args.seconds,
        )
        _report_lag(lags, args.rate)
    finally:
        await nc.close()
        engine.close()


def _report_lag(lags: Sequence[float], rate: int) -> None:
    if not lags:
        print("lag: nothing received")
        return
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"commit -> subscriber lag at ~{rate} events/s over {len(lags)} events: "
        f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sys.setswitchinterval(0.0005)  # as every Ledgerflow service runs (ops.processes)
    root = Path(tempfile.mkdtemp(prefix="lfb-", dir="/tmp"))
    try:
        with EmbeddedPostgres(root / "pg") as postgres, EmbeddedNats(root / "nats") as server:
            asyncio.run(_main(args, postgres.url, server.url))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
