"""A workflow definition: its tasks, their executors and dependencies, and the graph's rules."""

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aggregates.errors import InvalidWorkflowError, Problem
from aggregates.names import Identifier

MAX_TASKS = 1000
MAX_COMMAND_LENGTH = 65536
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_QUEUE = "default"


def _refuse_unstorable(value: str) -> str:
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


class TaskSpec(_Strict):
    """One task: what runs (`executor` and its fields), where (`queue`) and after what."""

    name: Identifier
    executor: Literal["shell", "noop"] = "shell"
    command: Annotated[str, Field(min_length=1, max_length=MAX_COMMAND_LENGTH)] | None = None
    depends_on: Annotated[list[Identifier], Field(max_length=MAX_TASKS)] = []
    queue: Identifier = DEFAULT_QUEUE
    timeout_seconds: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)] = (
        DEFAULT_TIMEOUT_SECONDS
    )

    @field_validator("command")
    @classmethod
    def _command_is_storable(cls, value: str | None) -> str | None:
        return None if value is None else _refuse_unstorable(value)

    @model_validator(mode="after")
    def _executor_has_its_fields(self) -> "TaskSpec":
        if self.executor == "shell" and self.command is None:
            msg = "a shell task needs a `command`"
            raise ValueError(msg)
        if self.executor == "noop" and self.command is not None:
            msg = "a noop task takes no `command`"
            raise ValueError(msg)
        return self


class WorkflowSpec(_Strict):
    """A workflow definition as submitted: a name and a DAG of tasks."""

    name: Identifier
    description: Annotated[str, Field(max_length=4096)] = ""
    tasks: Annotated[list[TaskSpec], Field(min_length=1, max_length=MAX_TASKS)]

    @field_validator("description")
    @classmethod
    def _description_is_storable(cls, value: str) -> str:
        return _refuse_unstorable(value)

    def fingerprint(self) -> str:
        """A hash of the definition, so an unchanged re-apply is recognised as a no-op."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def as_data(self) -> dict[str, Any]:
        """The definition as JSON-ready data, the form events store."""
        return self.model_dump(mode="json")


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
