"""A run's history told for people: each event as a sentence (what, when, why), the time
between steps, and how long each task waited and ran."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.history import HistoryEntry

_DEPENDENCY = re.compile(r"dependency '(?P<name>[^']+)' (?P<status>\w+)")
_MS = 1000
_MINUTE = 60


@dataclass(frozen=True)
class TimelineStep:
    """One event of the run, in words."""

    version: int
    position: int
    at: datetime
    type: str
    task: str | None
    actor: str
    text: str
    since_previous_ms: int
    since_start_ms: int


@dataclass
class TaskTimes:
    """Where one task's time went: in a queue or backing off (waiting), or on a worker."""

    task: str
    attempts: int = 0
    status: str = "pending"
    waiting_ms: int = 0
    running_ms: int = 0
    waiting_since: datetime | None = field(default=None, repr=False)
    running_since: datetime | None = field(default=None, repr=False)

    def wait(self, at: datetime) -> None:
        self._stop_running(at)
        if self.waiting_since is None:
            self.waiting_since = at

    def run(self, at: datetime) -> None:
        if self.waiting_since is not None:
            self.waiting_ms += _ms(at - self.waiting_since)
            self.waiting_since = None
        self.running_since = at

    def end(self, at: datetime, status: str) -> None:
        self._stop_running(at)
        if self.waiting_since is not None:
            self.waiting_ms += _ms(at - self.waiting_since)
            self.waiting_since = None
        self.status = status

    def _stop_running(self, at: datetime) -> None:
        if self.running_since is not None:
            self.running_ms += _ms(at - self.running_since)
            self.running_since = None


@dataclass(frozen=True)
class Timeline:
    steps: list[TimelineStep]
    tasks: list[TaskTimes]


def timeline(history: Sequence[HistoryEntry]) -> Timeline:
    """The steps and task times of a run's whole history (oldest event first)."""
    tasks: dict[str, TaskTimes] = {}
    steps: list[TimelineStep] = []
    for entry in history:
        task = entry.data.get("task")
        times = tasks.setdefault(task, TaskTimes(task)) if isinstance(task, str) else None
        if entry.type in _RUN_ENDINGS:
            text = _run_ended(entry, history[0].timestamp)
        else:
            text = _TEXTS.get(entry.type, _unknown)(entry, times, tasks)
        if times is not None:
            _account(entry, times)
        start, previous = history[0].timestamp, steps[-1].at if steps else entry.timestamp
        steps.append(
            TimelineStep(
                version=entry.version,
                position=entry.position,
                at=entry.timestamp,
                type=entry.type,
                task=task if isinstance(task, str) else None,
                actor=entry.actor,
                text=text,
                since_previous_ms=_ms(entry.timestamp - previous),
                since_start_ms=_ms(entry.timestamp - start),
            )
        )
    return Timeline(steps, list(tasks.values()))


def _account(entry: HistoryEntry, times: TaskTimes) -> None:
    at = entry.timestamp
    if entry.type == "TaskQueued":
        times.attempts = entry.data["attempt"]
        times.status = "queued"
        times.wait(at)
    elif entry.type == "TaskRetryScheduled":
        times.status = "waiting_retry"
        times.wait(at)
    elif entry.type == "TaskStarted":
        times.status = "running"
        times.run(at)
    elif entry.type in _ENDINGS:
        times.end(at, _ENDINGS[entry.type])


_ENDINGS = {
    "TaskSucceeded": "succeeded",
    "TaskFailed": "failed",
    "TaskTimedOut": "timed_out",
    "TaskSkipped": "skipped",
    "TaskReused": "succeeded",
}

Texts = Callable[[HistoryEntry, TaskTimes | None, dict[str, TaskTimes]], str]


def _run_started(entry: HistoryEntry, _: TaskTimes | None, __: dict[str, TaskTimes]) -> str:
    data = entry.data
    version = data["workflow_version"] or "ad hoc"
    text = (
        f"run started by {entry.actor} ({data['trigger']}): workflow {data['workflow']} "
        f"v{version}, {len(data['tasks'])} task(s)"
    )
    return text + (f", retrying run {data['retry_of']}" if data.get("retry_of") else "")


def _queued(entry: HistoryEntry, times: TaskTimes | None, _: dict[str, TaskTimes]) -> str:
    data = entry.data
    again = " (a retry)" if data["attempt"] > 1 else ""
    return f"{data['task']} attempt {data['attempt']} queued on {data['queue']}{again}"


def _started(entry: HistoryEntry, times: TaskTimes | None, _: dict[str, TaskTimes]) -> str:
    data = entry.data
    waited = _waited(entry, times)
    return f"{data['task']} attempt {data['attempt']} started on worker {data['worker']}{waited}"


def _waited(entry: HistoryEntry, times: TaskTimes | None) -> str:
    since = times.waiting_since if times is not None else None
    return "" if since is None else f" after {_duration(entry.timestamp - since)} in the queue"


def _outcome(verb: str) -> Texts:
    def text(entry: HistoryEntry, times: TaskTimes | None, _: dict[str, TaskTimes]) -> str:
        data = entry.data
        since = times.running_since if times is not None else None
        ran = "" if since is None else f" after running {_duration(entry.timestamp - since)}"
        detail = _failure_detail(data)
        return f"{data['task']} attempt {data['attempt']} {verb}{ran}{detail}"

    return text


def _failure_detail(data: dict[str, Any]) -> str:
    parts = []
    if data.get("exit_code") not in (None, 0):
        parts.append(f"exit code {data['exit_code']}")
    if data.get("error"):
        parts.append(str(data["error"]))
    if data.get("cause") in ("worker_lost", "undeliverable"):
        parts.append(str(data["cause"]).replace("_", " "))
    return f": {'; '.join(parts)}" if parts else ""


def _retry(entry: HistoryEntry, _: TaskTimes | None, __: dict[str, TaskTimes]) -> str:
    data = entry.data
    not_before: datetime = data["not_before"]
    backoff = (not_before - entry.timestamp).total_seconds()
    return (
        f"{data['task']}: retry {data['attempt']} scheduled for {not_before:%H:%M:%S} "
        f"(backoff {backoff:.3g} s) because {data['reason']}"
    )


def _skipped(entry: HistoryEntry, _: TaskTimes | None, tasks: dict[str, TaskTimes]) -> str:
    reason = str(entry.data["reason"])
    match = _DEPENDENCY.fullmatch(reason)
    if match is not None:
        name, status = match.group("name"), match.group("status")
        attempts = tasks[name].attempts if name in tasks else 0
        after = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
        reason = f"{name} {status.replace('_', ' ')}{after}"
    return f"{entry.data['task']} skipped because {reason}"


_RUN_ENDINGS = {"RunSucceeded": "succeeded", "RunFailed": "failed", "RunCancelled": "cancelled"}


def _run_ended(entry: HistoryEntry, start: datetime) -> str:
    verb = _RUN_ENDINGS[entry.type]
    by = f" by {entry.actor}" if entry.type == "RunCancelled" else ""
    reason = entry.data.get("reason")
    because = f": {reason}" if reason else ""
    return f"run {verb}{by} after {_duration(entry.timestamp - start)}{because}"


def _unknown(entry: HistoryEntry, _: TaskTimes | None, __: dict[str, TaskTimes]) -> str:
    return f"{entry.type} by {entry.actor}"


_TEXTS: dict[str, Texts] = {
    "RunStarted": _run_started,
    "TaskReused": lambda e, _, __: (
        f"{e.data['task']} reused its output from run {e.data['from_run']}"
    ),
    "TaskQueued": _queued,
    "TaskStarted": _started,
    "TaskSucceeded": _outcome("succeeded"),
    "TaskFailed": _outcome("failed"),
    "TaskTimedOut": _outcome("timed out"),
    "TaskRetryScheduled": _retry,
    "TaskSkipped": _skipped,
    "RunRetried": lambda e, _, __: f"run retried by {e.actor} as run {e.data['retry_run_id']}",
    "RunForked": lambda e, _, __: (
        f"run forked by {e.actor} from version {e.data['from_version']} "
        f"as run {e.data['fork_run_id']}"
    ),
    "RunForkedFrom": lambda e, _, __: (
        f"forked from run {e.data['from_run']} at version {e.data['from_version']}"
    ),
}


def _ms(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds() * _MS))


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{round(seconds * _MS)} ms"
    if seconds < _MINUTE:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(round(seconds), _MINUTE)
    return f"{minutes} min {rest} s"
