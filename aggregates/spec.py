"""A workflow definition: its tasks, their executors and dependencies, and the graph's rules."""

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aggregates.errors import InvalidWorkflowError, Problem
from aggregates.names import Identifier
from aggregates.numbers import IntegerOnly, NumberOnly
from aggregates.retry import RetryPolicy
from aggregates.schedule import ScheduleSpec
from aggregates.trigger import MAX_TRIGGERS, TriggerSpec

MAX_TASKS = 1000
MAX_COMMAND_LENGTH = 65536
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_QUEUE = "default"
SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # noqa: S105 -- a name pattern, no secret
PYTHON_TARGET_PATTERN = (
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
)


def refuse_unstorable(value: str) -> str:
    # NUL cannot be stored in PostgreSQL text/jsonb, and a lone surrogate cannot be encoded:
    # both have left runs of other engines stuck, so they never get in.
    if "\x00" in value:
        msg = "must not contain NUL characters"
        raise ValueError(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        msg = "must be valid Unicode (no lone surrogates)"
        raise ValueError(msg) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class SecretRef(_Strict):
    """A secret named in a spec; the worker resolves it at execution time, never the engine."""

    secret: Annotated[str, Field(pattern=SECRET_NAME_PATTERN)]


EnvValue = Annotated[str, Field(max_length=MAX_COMMAND_LENGTH)] | SecretRef
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]

EXECUTOR_FIELDS: dict[str, frozenset[str]] = {
    "shell": frozenset({"command", "args", "env", "working_dir"}),
    "noop": frozenset(),
    "python": frozenset({"target"}),
    "http": frozenset({"method", "url", "headers", "body", "expected_status"}),
}
"""Which executor-specific fields each executor takes; any other is refused."""


class TaskSpec(_Strict):
    """One task: what runs (`executor` and its fields), where (`queue`), after what and how often.

    Executor fields are flat so the common case reads simply (`{"name": "a", "command": "..."}`);
    a field that belongs to another executor is refused.
    """

    name: Identifier
    executor: Literal["shell", "noop", "python", "http"] = "shell"
    depends_on: Annotated[list[Identifier], Field(max_length=MAX_TASKS)] = []
    trigger_rule: Literal["all_success", "all_done", "all_failed", "one_failed"] = "all_success"
    queue: Identifier = DEFAULT_QUEUE
    timeout_seconds: Annotated[
        float, NumberOnly, Field(gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)
    ] = DEFAULT_TIMEOUT_SECONDS
    retry: RetryPolicy | None = None
    # shell
    command: Annotated[str, Field(min_length=1, max_length=MAX_COMMAND_LENGTH)] | None = None
    args: Annotated[
        list[Annotated[str, Field(max_length=MAX_COMMAND_LENGTH)]], Field(max_length=256)
    ] = []
    env: Annotated[dict[EnvName, EnvValue], Field(max_length=256)] = {}
    working_dir: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    # python
    target: Annotated[str, Field(pattern=PYTHON_TARGET_PATTERN, max_length=512)] | None = None
    # http
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    # `\s` differs between the schema's regex dialect (ECMA: has U+FEFF, not U+0085) and the
    # validator's (Unicode White_Space: the reverse); naming both makes them agree.
    url: Annotated[str, Field(pattern=r"^https?://[^\s\x85\ufeff]+$", max_length=4096)] | None = (
        None
    )
    headers: Annotated[
        dict[Annotated[str, Field(max_length=256)], EnvValue], Field(max_length=64)
    ] = {}
    body: Any = None
    expected_status: Annotated[
        list[Annotated[int, IntegerOnly, Field(ge=100, le=599)]], Field(max_length=50)
    ] = []

    @field_validator("command", "working_dir", "target", "url")
    @classmethod
    def _text_is_storable(cls, value: str | None) -> str | None:
        return None if value is None else refuse_unstorable(value)

    @field_validator("args")
    @classmethod
    def _args_are_storable(cls, value: list[str]) -> list[str]:
        return [refuse_unstorable(item) for item in value]

    @model_validator(mode="after")
    def _executor_has_its_fields(self) -> "TaskSpec":
        own = EXECUTOR_FIELDS[self.executor]
        # A field counts when it differs from its default, so stored specs (dumped with every
        # default) validate again when a run is loaded.
        foreign = sorted(
            name
            for fields in EXECUTOR_FIELDS.values()
            for name in fields - own
            if getattr(self, name) != type(self).model_fields[name].default
        )
        if foreign:
            msg = f"{', '.join(foreign)} not allowed for the {self.executor} executor"
            raise ValueError(msg)
        required = {"shell": "command", "python": "target", "http": "url"}.get(self.executor)
        if required is not None and getattr(self, required) is None:
            msg = f"a {self.executor} task needs `{required}`"
            raise ValueError(msg)
        return self

    def effective_retry(self, default: RetryPolicy) -> RetryPolicy:
        return self.retry or default


class WorkflowSpec(_Strict):
    """A workflow definition as submitted: a name and a DAG of tasks."""

    name: Identifier
    description: Annotated[str, Field(max_length=4096)] = ""
    tasks: Annotated[list[TaskSpec], Field(min_length=1, max_length=MAX_TASKS)]
    retry: RetryPolicy = RetryPolicy()
    schedule: ScheduleSpec | None = None
    triggers: Annotated[list[TriggerSpec], Field(max_length=MAX_TRIGGERS)] = []

    @field_validator("description")
    @classmethod
    def _description_is_storable(cls, value: str) -> str:
        return refuse_unstorable(value)

    def fingerprint(self) -> str:
        """A hash of the definition, so an unchanged re-apply is recognised as a no-op."""
        canonical = json.dumps(self.as_data(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def as_data(self) -> dict[str, Any]:
        """The definition as JSON-ready data, the form events store.

        No `schedule` key when there is none and no `triggers` key when there are none, so
        definitions recorded before either existed keep their fingerprints (an unchanged
        re-apply stays a no-op).
        """
        absent = {"schedule"} if self.schedule is None else set()
        if not self.triggers:
            absent.add("triggers")
        return self.model_dump(mode="json", exclude=absent or None)


def graph_problems(spec: WorkflowSpec) -> list[Problem]:
    """What is wrong with the task graph: duplicate names, unknown dependencies, cycles."""
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    for index, task in enumerate(spec.tasks):
        if task.name in first_index:
            problems.append(
                Problem(
                    f"tasks[{index}].name",
                    f"duplicate task name {task.name!r} (also tasks[{first_index[task.name]}])",
                )
            )
        else:
            first_index[task.name] = index
    for index, task in enumerate(spec.tasks):
        for dependency in task.depends_on:
            if dependency not in first_index:
                problems.append(
                    Problem(f"tasks[{index}].depends_on", f"unknown task {dependency!r}")
                )
            elif dependency == task.name:
                problems.append(
                    Problem(f"tasks[{index}].depends_on", f"task {task.name!r} depends on itself")
                )
    if problems:
        return problems
    cycle = _find_cycle({task.name: task.depends_on for task in spec.tasks})
    if cycle:
        index = first_index[cycle[0]]
        path = " -> ".join(cycle)
        problems.append(Problem(f"tasks[{index}].depends_on", f"dependency cycle: {path}"))
    return problems


def check_graph(spec: WorkflowSpec) -> None:
    """Raise `InvalidWorkflowError` naming every graph problem of `spec`."""
    problems = graph_problems(spec)
    if problems:
        raise InvalidWorkflowError(problems)


def _find_cycle(depends_on: dict[str, list[str]]) -> list[str]:
    """A cycle as a closed path (`a -> b -> a`), or [] for a DAG; iterative, so deep graphs fit."""
    unvisited, on_path, done = 0, 1, 2
    state = dict.fromkeys(depends_on, unvisited)
    for root, children in depends_on.items():
        if state[root] != unvisited:
            continue
        path = [root]
        iterators = [iter(children)]
        state[root] = on_path
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                state[path.pop()] = done
                iterators.pop()
            elif state[child] == on_path:
                return [*path[path.index(child) :], child]
            elif state[child] == unvisited:
                state[child] = on_path
                path.append(child)
                iterators.append(iter(depends_on[child]))
    return []
