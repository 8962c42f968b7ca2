"""The offline checker: after the faults, reads the log, read models, side table, request log and
what JetStream still holds, and lists every broken promise, naming the runs and events involved."""

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from aggregates.run import Run
from ops.settings import Settings
from ops.system import build_engine, build_rebuilder, read_models
from streams.messages import ExecuteTask, TaskReported
from streams.subjects import Subjects
from tests.e2e.rig import HANG
from tests.faults.client import RequestLog
from tests.faults.cron_rules import CronLog, cron_findings
from tests.faults.executions import executions
from tests.faults.jetstream import Parked, debts, message_count, parked, stored, work_queues

OUTCOMES = (Run.TaskSucceeded, Run.TaskFailed, Run.TaskTimedOut)
TERMINAL = (Run.Succeeded, Run.Failed, Run.Cancelled)
AFTER_THE_END = (Run.Retried, Run.Forked)
"""Events a finished run may still get: links to the new runs started from it."""
_PAGE = 5000
NATS_DRAIN_SECONDS = HANG
"""After the runs settled, JetStream's work queues empty within this (a hang detector: a message
unacked by a consumer that died comes back after the ack wait, and may run out of deliveries)."""


@dataclass
class Findings:
    """What the checker found: counts for the summary, and the broken invariants in words."""

    accepted: int = 0
    lost: list[str] = field(default_factory=list)
    duplicate_outcomes: list[str] = field(default_factory=list)
    duplicate_terminals: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    stale_effects: list[str] = field(default_factory=list)
    projection_mismatches: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    duplicate_executions: int = 0
    """Attempts that really ran more than once: allowed (at-least-once), measured."""
    status_503: int = 0
    cron: list[str] = field(default_factory=list)
    """Cron ticks fired more than once, or whose fire started no run or several, or never
    decided (neither fired nor recorded as skipped, buffered or missed), or decided twice."""
    cron_fires: int = 0
    crashes: list[str] = field(default_factory=list)
    """Processes that died without a fault ending them."""
    nats_leftovers: list[str] = field(default_factory=list)
    """Consumers of the work queues still owing messages, and messages left in them, once
    the runs settled, that no parked copy explains."""
    parked: int = 0
    """Copies put on the parked stream since the last check (unreadable or out of deliveries)."""
    parked_through: int = 0
    """The parked stream's sequence up to which copies were checked."""
    unexplained_parked: list[str] = field(default_factory=list)
    """Dispatches or results parked after their deliveries ran out whose attempt the log
    shows no outcome for (a parked dispatch fails its attempt; a parked result's attempt is
    ended by its deadline)."""

    @property
    def broken(self) -> list[str]:
        return [
            *(f"lost run {run}" for run in self.lost),
            *self.duplicate_outcomes,
            *self.duplicate_terminals,
            *self.regressions,
            *self.stale_effects,
            *self.projection_mismatches,
            *self.server_errors,
            *self.cron,
            *self.crashes,
            *self.nats_leftovers,
            *self.unexplained_parked,
        ]


def check(
    settings: Settings, ledger_url: str, requests: RequestLog, *, parked_after: int = 0
) -> Findings:
    """Check every promise over the whole log, and over the runs `requests` got accepted;
    parked copies are checked from sequence `parked_after` on (earlier checks saw the rest)."""
    findings = Findings(accepted=len(requests.accepted), status_503=requests.count(503))
    subjects = Subjects(settings.nats_prefix)
    findings.nats_leftovers = nats_leftovers(settings.nats_url or "", subjects)
    log = read_log(settings)
    findings.lost = [run for run in requests.accepted if not _terminal(log.runs.get(run, []))]
    for run_id, events in log.runs.items():
        _check_run(run_id, events, findings)
    findings.cron = cron_findings(log.cron)
    findings.cron_fires = log.cron.fires.total()
    copies = parked(settings.nats_url or "", subjects, parked_after)
    findings.parked = len(copies)
    findings.parked_through = max((copy.sequence for copy in copies), default=parked_after)
    findings.unexplained_parked = _unexplained_parked(copies, log, subjects)
    findings.projection_mismatches = _projection_mismatches(settings)
    findings.server_errors = [
        f"{r.method} {r.path} answered {r.status} (Retry-After: {r.retry_after})"
        for r in requests.server_errors()
    ]
    ran = executions(ledger_url, settings.schema)
    findings.duplicate_executions = sum(1 for count in ran.values() if count > 1)
    return findings


@dataclass
class Log:
    """What the checker reads from the event log."""

    runs: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    """Every Run event, by run id, in log order."""
    cron: CronLog = field(default_factory=CronLog)


def read_log(settings: Settings) -> Log:
    engine = build_engine(settings)
    log = Log()
    try:
        start = 1
        while notifications := engine.recorder.select_notifications(start=start, limit=_PAGE):
            for notification in notifications:
                _note(log, engine.mapper.to_domain_event(notification))
            start = notifications[-1].id + 1
    finally:
        engine.close()
    return log


def _note(log: Log, event: Any) -> None:
    if isinstance(event, Run.Event):
        log.runs[str(event.originator_id)].append(event)
    log.cron.note(event)


def _terminal(events: list[Any]) -> bool:
    return any(isinstance(event, TERMINAL) for event in events)


def _check_run(run_id: str, events: list[Any], findings: Findings) -> None:
    outcomes: Counter[tuple[str, int]] = Counter()
    latest_queued: dict[str, int] = {}
    ended_at: int | None = None
    for event in events:
        name = f"{type(event).__qualname__} v{event.originator_version} of run {run_id}"
        if ended_at is not None and not isinstance(event, AFTER_THE_END):
            findings.regressions.append(f"{name} after the run ended (v{ended_at})")
        if isinstance(event, Run.TaskQueued):
            latest_queued[event.task] = event.attempt
        if (
            isinstance(event, Run.TaskStarted | Run.TaskQueued)
            and outcomes[(event.task, event.attempt)]
        ):
            findings.regressions.append(f"{name}: attempt {event.attempt} had already ended")
        if isinstance(event, OUTCOMES):
            outcomes[(event.task, event.attempt)] += 1
            if event.attempt != latest_queued.get(event.task, event.attempt):
                findings.stale_effects.append(
                    f"{name}: outcome of attempt {event.attempt} after attempt "
                    f"{latest_queued[event.task]} was queued"
                )
        if isinstance(event, TERMINAL):
            if ended_at is not None:
                findings.duplicate_terminals.append(f"{name}: a second terminal event")
            ended_at = event.originator_version
    findings.duplicate_outcomes += [
        f"run {run_id} task {task} attempt {attempt}: {count} outcomes"
        for (task, attempt), count in outcomes.items()
        if count > 1
    ]


def _projection_mismatches(settings: Settings) -> list[str]:
    engine = build_engine(settings)
    try:
        verified = build_rebuilder(engine).verify(read_models())
    finally:
        engine.close()
    return [
        f"read model {result.name} differs from its replay at position {result.position}: "
        f"{difference.table}: only live {difference.only_live[:3]}, "
        f"only replayed {difference.only_replayed[:3]}"
        for result in verified
        for difference in result.differences
    ]


def nats_leftovers(url: str, subjects: Subjects, within: float = NATS_DRAIN_SECONDS) -> list[str]:
    """Wait until the work queues' consumers owe nothing and the queues hold only messages
    whose parked copy explains them (out of deliveries, their deletion pending); past
    `within`, what is still owed or held, by consumer and stream, with counts."""
    queues = work_queues(subjects)
    deadline = time.monotonic() + within
    while True:
        owed = [str(debt) for debt in debts(url, queues) if debt.owed]
        held = [] if owed else _unexplained_messages(url, subjects, queues)
        if not (owed or held) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if owed:  # what the consumers owe, and what the streams hold meanwhile
        held = _unexplained_messages(url, subjects, queues)
    return [*(f"{line} after {within:g} s" for line in owed), *held]


def _unexplained_messages(url: str, subjects: Subjects, queues: tuple[str, ...]) -> list[str]:
    if not any(message_count(url, queue) for queue in queues):
        return []
    explained = {(copy.stream, copy.original) for copy in parked(url, subjects, 0)}
    left = [m for m in stored(url, queues) if (m.stream, m.sequence) not in explained]
    by_stream = Counter(message.stream for message in left)
    return [
        f"stream {stream}: {count} message(s) left unexplained, e.g. "
        + ", ".join(f"#{m.sequence} on {m.subject}" for m in left if m.stream == stream)[:300]
        for stream, count in sorted(by_stream.items())
    ]


def _unexplained_parked(copies: list[Parked], log: Log, subjects: Subjects) -> list[str]:
    """Parked copies of dispatches and results that ran out of deliveries whose attempt has
    no outcome in the log (an unreadable message parked at once carries its reason)."""
    problems = []
    for copy in copies:
        if copy.reason is not None:
            continue
        attempt = _attempt_of(copy, subjects)
        if attempt is None:
            continue  # unreadable: nothing to settle (the engine counted it)
        run_id, task, number = attempt
        events = log.runs.get(run_id)
        if events is None or _terminal(events):
            continue  # an unknown run's message, or its run ended anyway
        if not any(
            isinstance(e, OUTCOMES) and e.task == task and e.attempt == number for e in events
        ):
            problems.append(
                f"parked {copy.stream} #{copy.original} after {copy.deliveries} deliveries: "
                f"run {run_id} task {task} attempt {number} has no outcome in the log"
            )
    return problems


def _attempt_of(copy: Parked, subjects: Subjects) -> tuple[str, str, int] | None:
    """(run id, task, attempt) of a parked dispatch or result; None if it cannot be read."""
    model = ExecuteTask if copy.stream == subjects.dispatch_stream else TaskReported
    try:
        message = model.model_validate_json(copy.data)
    except ValidationError:
        return None
    return str(message.run_id), message.task, message.attempt
