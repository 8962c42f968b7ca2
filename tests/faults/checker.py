"""The offline checker: after the faults, reads the log, read models, side table and request log
and lists every broken promise, naming the runs and events involved."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregates.run import Run
from aggregates.schedule_tick import ScheduleTick
from ops.settings import Settings
from ops.system import build_engine, build_rebuilder, read_models
from tests.faults.client import RequestLog
from tests.faults.executions import executions

OUTCOMES = (Run.TaskSucceeded, Run.TaskFailed, Run.TaskTimedOut)
TERMINAL = (Run.Succeeded, Run.Failed, Run.Cancelled)
AFTER_THE_END = (Run.Retried, Run.Forked)
"""Events a finished run may still get: links to the new runs started from it."""
_PAGE = 5000
Tick = tuple[str, datetime | None]
"""A cron tick: (workflow, scheduled UTC instant)."""


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
    """Cron ticks fired more than once, or whose fire started no run or several."""
    cron_fires: int = 0
    crashes: list[str] = field(default_factory=list)
    """Processes that died without a fault ending them."""

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
        ]


def check(settings: Settings, ledger_url: str, requests: RequestLog) -> Findings:
    """Check every promise over the whole log, and over the runs `requests` got accepted."""
    findings = Findings(accepted=len(requests.accepted), status_503=requests.count(503))
    log = read_log(settings)
    findings.lost = [run for run in requests.accepted if not _terminal(log.runs.get(run, []))]
    for run_id, events in log.runs.items():
        _check_run(run_id, events, findings)
    findings.cron = _cron_findings(log)
    findings.cron_fires = log.fires.total()
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
    fires: Counter[Tick] = field(default_factory=Counter)
    """`ScheduleFired` events per cron tick."""
    scheduled_starts: Counter[Tick] = field(default_factory=Counter)
    """Runs started by a cron tick, per tick."""


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
    if isinstance(event, Run.Started) and event.trigger == "schedule":
        log.scheduled_starts[(event.workflow, event.scheduled_for)] += 1
    if isinstance(event, ScheduleTick.ScheduleFired):
        log.fires[(event.workflow, event.scheduled_for)] += 1


def _cron_findings(log: Log) -> list[str]:
    """Each cron tick fired at most once, and each fire started its one run."""
    return [
        f"cron tick {workflow} at {instant}: fired {log.fires[(workflow, instant)]} time(s), "
        f"started {log.scheduled_starts[(workflow, instant)]} run(s)"
        for workflow, instant in sorted(log.fires.keys() | log.scheduled_starts.keys())
        if not log.fires[(workflow, instant)] == log.scheduled_starts[(workflow, instant)] == 1
    ]


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
