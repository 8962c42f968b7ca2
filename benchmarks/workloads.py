"""The workloads of BENCHMARKS.md: W1 throughput, W2 latency, W3 fan-out/fan-in DAG, W5 many
concurrent clients."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks.client import Api, Completion, await_all, await_one, server_times
from benchmarks.stats import percentile

NOOP_WORKFLOW = "bench-noop"
DAG_WORKFLOW = "bench-dag"
DAG_WIDTH = 20
CLIENTS = 16
WARM_UP_RUNS = 20
MS_PER_S = 1000.0


@dataclass
class Rep:
    """One repetition of a workload: its figures and what went wrong."""

    figures: dict[str, float]
    items: int
    submit_failures: int = 0
    not_succeeded: int = 0
    timed_out: int = 0
    elapsed_s: float = 0.0
    sample_run: str | None = None
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return self.submit_failures + self.not_succeeded + self.timed_out


@dataclass(frozen=True)
class Workload:
    """A named workload: its size, its figures (the first is the headline) and its body."""

    id: str
    title: str
    figures: tuple[str, ...]
    size: int
    body: Callable[[Api, int, float], Rep]


def noop_spec() -> dict[str, Any]:
    return {"name": NOOP_WORKFLOW, "tasks": [{"name": "t", "executor": "noop"}]}


def dag_spec(width: int = DAG_WIDTH) -> dict[str, Any]:
    """1 root → `width` parallel tasks → 1 join, all no-op."""
    middle = [f"p{index:02d}" for index in range(1, width + 1)]
    tasks: list[dict[str, Any]] = [{"name": "root", "executor": "noop"}]
    tasks += [{"name": name, "executor": "noop", "depends_on": ["root"]} for name in middle]
    tasks.append({"name": "join", "executor": "noop", "depends_on": middle})
    return {"name": DAG_WORKFLOW, "tasks": tasks}


def prepare(api: Api) -> None:
    """Create (or keep) the benchmark workflows."""
    api.apply_workflow(noop_spec())
    api.apply_workflow(dag_spec())


def warm_up(api: Api, timeout_s: float) -> Completion:
    """20 no-op runs submitted and awaited, not counted."""
    ids = [run_id for _ in range(WARM_UP_RUNS) if (run_id := api.submit(NOOP_WORKFLOW))]
    return await_all(api, ids, timeout_s)


def _submit_then_await(api: Api, workflow: str, count: int, timeout_s: float) -> Rep:
    """Submit `count` runs one per call, then await them all; rate = succeeded / elapsed."""
    ids: list[str] = []
    first, first_wall = time.perf_counter(), datetime.now(UTC)
    for _ in range(count):
        run_id = api.submit(workflow)
        if run_id is not None:
            ids.append(run_id)
    return _awaited(api, count, ids, (first, first_wall), timeout_s)


def _awaited(
    api: Api, count: int, ids: list[str], first: tuple[float, datetime], timeout_s: float
) -> Rep:
    """Await the runs `ids` (of `count` submitted since `first`, a perf counter and the wall
    clock read together): succeeded runs per second from the first submit to the last
    completion (`per_s`), and the submit rate.

    The last completion is when the last run's ending was recorded (its `finished_at`, on
    this machine's clock); every run is then confirmed through the API, one read each. The
    rate to the moment the client had confirmed them all is `observed_per_s`: after 5,000
    submits the confirming reads alone took about 12 s of W1's 50.
    """
    first_perf, first_wall = first
    submitted, submitted_wall = time.perf_counter(), datetime.now(UTC)
    done = await_all(api, ids, timeout_s)
    observed = (done.last_done or time.perf_counter()) - first_perf
    elapsed = observed
    if done.server_times and len(done.server_times) == len(done.statuses):
        last_end = max(end for _, end in done.server_times)
        elapsed = (last_end - first_wall).total_seconds()
    succeeded = len(done.statuses) - done.not_succeeded
    return Rep(
        figures={"per_s": succeeded / elapsed if elapsed > 0 else 0.0},
        items=count,
        submit_failures=count - len(ids),
        not_succeeded=done.not_succeeded,
        timed_out=done.timed_out,
        elapsed_s=elapsed,
        sample_run=ids[-1] if ids else None,
        notes={
            "observed_per_s": succeeded / observed if observed > 0 else 0.0,
            "submit_per_s": len(ids) / (submitted - first_perf),
            "submit_s": submitted - first_perf,
            **_server_side(done, submitted_wall),
        },
    )


def _server_side(done: Completion, submitted_wall: datetime) -> dict[str, float]:
    """From the runs' own timestamps: lag under load, and the drain rate once submits stopped.

    `drain_per_s` counts the runs that finished after the last submit, over the time from the
    last submit to the last finish: the engine's pace with the API no longer taking submits.
    """
    if not done.server_times:
        return {}
    lags = [(end - start).total_seconds() * MS_PER_S for start, end in done.server_times]
    last = max(end for _, end in done.server_times)
    after = sum(1 for _, end in done.server_times if end > submitted_wall)
    tail_s = (last - submitted_wall).total_seconds()
    figures = {"lag_p50_ms": percentile(lags, 50), "lag_p99_ms": percentile(lags, 99)}
    figures["backlog_at_last_submit"] = float(after)
    if tail_s > 0:
        figures["drain_per_s"] = after / tail_s
    return figures


def throughput(api: Api, count: int, timeout_s: float) -> Rep:
    """W1: single-task no-op runs submitted one by one, then awaited; tasks/s."""
    rep = _submit_then_await(api, NOOP_WORKFLOW, count, timeout_s)
    rep.figures = {"tasks_per_s": rep.figures["per_s"]}
    return rep


def dag(api: Api, count: int, timeout_s: float) -> Rep:
    """W3: fan-out/fan-in workflows submitted one by one, then awaited; workflows/s."""
    rep = _submit_then_await(api, DAG_WORKFLOW, count, timeout_s)
    per_s = rep.figures["per_s"]
    rep.figures = {"workflows_per_s": per_s, "tasks_per_s": per_s * (DAG_WIDTH + 2)}
    return rep


def latency(api: Api, count: int, timeout_s: float) -> Rep:
    """W2: each no-op run submitted and awaited before the next; submit → completed ms."""
    client_ms: list[float] = []
    server_ms: list[float] = []
    rep = Rep(figures={}, items=count)
    first = time.perf_counter()
    for _ in range(count):
        started = time.perf_counter()
        run_id = api.submit(NOOP_WORKFLOW)
        if run_id is None:
            rep.submit_failures += 1
            continue
        body, observed = await_one(api, run_id, timeout_s)
        if body is None:
            rep.timed_out += 1
            continue
        rep.sample_run = run_id
        if body["status"] != "succeeded":  # a failed run is a failure, not a latency sample
            rep.not_succeeded += 1
            continue
        client_ms.append((observed - started) * MS_PER_S)
        server_ms.append(_server_ms(body))
    rep.elapsed_s = time.perf_counter() - first
    rep.figures = _latency_figures(client_ms)
    rep.notes = {f"server_{key}": value for key, value in _latency_figures(server_ms).items()}
    return rep


def concurrent(api: Api, count: int, timeout_s: float) -> Rep:
    """W5: `CLIENTS` clients, each its own thread and keep-alive connection, submit `count`
    single-task no-op runs between them as fast as answers come; then all are awaited.

    Figures: tasks/s from the first submit to the last completion, and the API's submit
    latency p50/p99 as the clients saw it.
    """
    base_url = api.base_url
    shares = [count // CLIENTS + (1 if index < count % CLIENTS else 0) for index in range(CLIENTS)]
    ids: list[list[str]] = [[] for _ in range(CLIENTS)]
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS + 1)

    def client(index: int) -> None:
        own = Api(base_url)
        try:
            start.wait()
            for _ in range(shares[index]):
                sent = time.perf_counter()
                run_id = own.submit(NOOP_WORKFLOW)
                latencies[index].append((time.perf_counter() - sent) * MS_PER_S)
                if run_id is not None:  # a refusal counts as a submit failure
                    ids[index].append(run_id)
        finally:
            own.close()

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    first = time.perf_counter(), datetime.now(UTC)
    for thread in threads:
        thread.join()
    # Runs finish roughly in submission order across clients: await them interleaved.
    accepted = [run_id for batch in zip(*ids, strict=False) for run_id in batch]
    accepted += [run_id for batch in ids for run_id in batch[min(map(len, ids)) :]]
    rep = _awaited(api, count, accepted, first, timeout_s)
    submit_ms = [sample for samples in latencies for sample in samples]
    rep.figures = {
        "tasks_per_s": rep.figures["per_s"],
        "api_p50_ms": percentile(submit_ms, 50),
        "api_p99_ms": percentile(submit_ms, 99),
    }
    return rep


def _latency_figures(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}


def _server_ms(body: dict[str, Any]) -> float:
    """The run's own created_at → finished_at, as the server recorded them."""
    created, finished = server_times(body)
    return (finished - created).total_seconds() * MS_PER_S


def events_per_task(api: Api, run_id: str) -> dict[str, float]:
    """Events one run wrote, per run and per task."""
    events = api.event_count(run_id)
    body = api.run(run_id) or {"tasks": []}
    tasks = len(body["tasks"]) or 1
    return {"events_per_run": events, "tasks_per_run": tasks, "events_per_task": events / tasks}


def plan(quick: bool) -> list[Workload]:
    """The workloads with their quick or full sizes."""
    return [
        Workload("W1", "throughput", ("tasks_per_s",), 2000 if quick else 5000, throughput),
        Workload("W2", "latency", ("p50_ms", "p99_ms"), 200, latency),
        Workload("W3", "DAG 1→20→1", ("workflows_per_s", "tasks_per_s"), 10 if quick else 50, dag),
        Workload(
            "W5",
            f"{CLIENTS} concurrent clients",
            ("tasks_per_s", "api_p50_ms", "api_p99_ms"),
            1000 if quick else 20_000,
            concurrent,
        ),
    ]
