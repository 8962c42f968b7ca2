"""Trigger rules: when a task whose dependencies have finished runs, waits or is skipped."""

from collections.abc import Callable, Sequence
from enum import StrEnum

from aggregates.task_state import TaskState, TaskStatus

_FAILED = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT})


class Decision(StrEnum):
    WAIT = "wait"
    QUEUE = "queue"
    SKIP = "skip"


Verdict = tuple[Decision, str | None]
_WAIT: Verdict = (Decision.WAIT, None)
_QUEUE: Verdict = (Decision.QUEUE, None)


def decide(rule: str, dependencies: Sequence[TaskState]) -> Verdict:
    """What a pending task with `rule` does now, and why it is skipped when it is."""
    finished = [d for d in dependencies if d.status.is_terminal]
    ready = _QUEUE if len(finished) == len(dependencies) else _WAIT
    return _RULES[rule](finished, ready)


def _all_success(finished: list[TaskState], ready: Verdict) -> Verdict:
    blocker = next((d for d in finished if d.status is not TaskStatus.SUCCEEDED), None)
    if blocker is not None:
        return Decision.SKIP, f"dependency {blocker.name!r} {blocker.status.value}"
    return ready


def _all_done(_finished: list[TaskState], ready: Verdict) -> Verdict:
    return ready


def _all_failed(finished: list[TaskState], ready: Verdict) -> Verdict:
    succeeded = next((d for d in finished if d.status is TaskStatus.SUCCEEDED), None)
    if succeeded is not None:
        return Decision.SKIP, f"trigger rule all_failed: {succeeded.name!r} succeeded"
    return ready


def _one_failed(finished: list[TaskState], ready: Verdict) -> Verdict:
    if any(d.status in _FAILED for d in finished):
        return _QUEUE
    if ready is _QUEUE:
        return Decision.SKIP, "trigger rule one_failed: no dependency failed"
    return _WAIT


_RULES: dict[str, Callable[[list[TaskState], Verdict], Verdict]] = {
    "all_success": _all_success,
    "all_done": _all_done,
    "all_failed": _all_failed,
    "one_failed": _one_failed,
}
