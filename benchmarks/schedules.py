"""W4 and W4b: cron lateness (`RunStarted` commit time minus the tick), alone and under load."""

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from benchmarks.client import Api
from benchmarks.stats import percentile
from benchmarks.workloads import MS_PER_S, NOOP_WORKFLOW, Rep, Workload

EVERY_SECOND = "* * * * * *"
RUN_STARTED = "aggregates.run:Run.Started"
SCHEMA = "ledgerflow"
EVENTS_TABLE = f"{SCHEMA}.ledgerflow_events"
CHANNEL = "ledgerflow_events"  # eventsourcing NOTIFYs on the events table's own name
W4B_SCHEDULES = 100
SETTLE_S = 1.5


class CommitObserver(threading.Thread):
    """Notes when each scheduled `RunStarted` becomes visible: the store NOTIFYs on commit.

    One connection LISTENs; at each notification a second one reads the new `RunStarted`
    rows, so a commit is timed to within the notification's delivery (about 1 ms here).
    """

    def __init__(self, database_url: str) -> None:
        super().__init__(name="commit-observer", daemon=True)
        self._url = database_url
        self._halt = threading.Event()
        self._ready = threading.Event()
        self.error: Exception | None = None
        self.lateness_ms: dict[tuple[str, str], float] = {}
        """(workflow, scheduled tick) -> commit seen - tick, in ms."""

    def run(self) -> None:
        try:
            self._observe()
        except Exception as error:  # handed to the workload by `stop`
            self.error = error

    def _observe(self) -> None:
        with (
            psycopg.connect(self._url, autocommit=True) as listener,
            psycopg.connect(self._url, autocommit=True) as reader,
        ):
            listener.execute(f'LISTEN "{CHANNEL}"')
            head = f"SELECT max(notification_id) FROM {EVENTS_TABLE}"  # noqa: S608 -- constants
            row = reader.execute(head).fetchone()
            last = int(row[0] or 0) if row else 0
            self._ready.set()
            while not self._halt.is_set():
                for _ in listener.notifies(timeout=0.2, stop_after=1):
                    last = self._read(reader, last, datetime.now(UTC))

    def _read(self, reader: psycopg.Connection[Any], after: int, seen: datetime) -> int:
        rows = reader.execute(
            f"SELECT notification_id, state FROM {EVENTS_TABLE} "  # noqa: S608 -- constants
            "WHERE notification_id > %s AND topic = %s ORDER BY notification_id",
            (after, RUN_STARTED),
        ).fetchall()
        for position, state in rows:
            after = max(after, position)
            event = json.loads(bytes(state))
            tick = event.get("scheduled_for")
            if event.get("trigger") == "schedule" and tick is not None:
                at = datetime.fromisoformat(tick["_data_"])
                key = (event["workflow"], at.isoformat())
                self.lateness_ms[key] = (seen - at).total_seconds() * MS_PER_S
        return after

    def start_observing(self) -> None:
        self.start()
        self._ready.wait(30)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        if self.error is not None:
            raise self.error


def _schedule_spec(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "tasks": [{"name": "t", "executor": "noop"}],
        "schedule": {"cron": EVERY_SECOND, "misfire": "skip"},
    }


def _observe(api: Api, names: list[str], seconds: int, load: bool) -> Rep:
    if api.database_url is None:
        raise RuntimeError("W4 needs the database URL to see commits")
    observer = CommitObserver(api.database_url)
    observer.start_observing()
    loader = _Load(api.base_url) if load else None
    started = time.perf_counter()
    for name in names:
        api.apply_workflow(_schedule_spec(name))
    first = datetime.now(UTC)
    if loader is not None:
        loader.start()
    time.sleep(seconds)
    last = datetime.now(UTC)
    for name in names:
        api.expect("POST", f"/v1/workflows/{name}/schedule/pause")
    if loader is not None:
        loader.stop()
    time.sleep(SETTLE_S)
    observer.stop()
    elapsed = time.perf_counter() - started
    return _rep(observer, names, first=first, last=last, elapsed=elapsed, loader=loader)


def _rep(
    observer: CommitObserver,
    names: list[str],
    *,
    first: datetime,
    last: datetime,
    elapsed: float,
    loader: "_Load | None",
) -> Rep:
    whole_seconds = max(0, int(last.timestamp()) - int(first.timestamp()) - 1)
    expected = whole_seconds * len(names)
    samples = [ms for (name, _), ms in observer.lateness_ms.items() if name in names]
    rep = Rep(
        figures={
            "p50_ms": percentile(samples, 50) if samples else float("nan"),
            "p99_ms": percentile(samples, 99) if samples else float("nan"),
        },
        items=len(samples),
        elapsed_s=elapsed,
        notes={
            "ticks_observed": float(len(samples)),
            "ticks_expected_at_least": float(expected),
            "max_ms": max(samples, default=float("nan")),
        },
    )
    rep.not_succeeded = max(0, expected - len(samples))
    if loader is not None:
        rep.notes["load_submitted"] = float(loader.submitted)
    return rep


class _Load(threading.Thread):
    """W1-style load beside the schedules: no-op runs submitted one by one, not awaited."""

    def __init__(self, base_url: Any) -> None:
        super().__init__(name="w1-load", daemon=True)
        self._api = Api(str(base_url))
        self._halt = threading.Event()
        self.submitted = 0

    def run(self) -> None:
        while not self._halt.is_set():
            if self._api.submit(NOOP_WORKFLOW) is not None:
                self.submitted += 1

    def stop(self) -> None:
        self._halt.set()
        self.join(30)
        self._api.close()


def schedule_lateness(api: Api, seconds: int, timeout_s: float) -> Rep:
    """W4: one every-second schedule, no other load; lateness p50 / p99 ms."""
    return _observe(api, [f"bench-cron-{time.time_ns()}"], seconds, load=False)


def schedule_lateness_under_load(api: Api, seconds: int, timeout_s: float) -> Rep:
    """W4b: 100 every-second schedules while no-op runs are submitted one by one."""
    stamp = time.time_ns()
    names = [f"bench-cron-{stamp}-{index}" for index in range(W4B_SCHEDULES)]
    return _observe(api, names, seconds, load=True)


def schedule_workloads(quick: bool) -> list[Workload]:
    """W4 and W4b with their quick or full observation windows (seconds)."""
    return [
        Workload("W4", "cron lateness", ("p50_ms", "p99_ms"), 15, schedule_lateness),
        Workload(
            "W4B",
            "cron lateness, 100 schedules under load",
            ("p50_ms", "p99_ms"),
            10 if quick else 30,
            schedule_lateness_under_load,
        ),
    ]
