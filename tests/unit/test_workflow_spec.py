"""Workflow definitions: field rules, graph rules and versions."""

from typing import Any

import pytest
from pydantic import ValidationError

from aggregates.errors import InvalidWorkflowError
from aggregates.spec import WorkflowSpec, graph_problems
from aggregates.workflow import Workflow
from tests.builders import a_spec, an_origin


def problems_of(tasks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    spec = WorkflowSpec.model_validate({"name": "w", "tasks": tasks})
    return [(problem.loc, problem.msg) for problem in graph_problems(spec)]


def field_errors(body: dict[str, Any]) -> list[tuple[object, ...]]:
    with pytest.raises(ValidationError) as raised:
        WorkflowSpec.model_validate(body)
    return [error["loc"] for error in raised.value.errors()]


def test_a_dag_has_no_problems() -> None:
    assert graph_problems(a_spec()) == []


def test_an_unknown_dependency_is_named() -> None:
    found = problems_of([{"name": "a", "executor": "noop", "depends_on": ["nope"]}])

    assert found == [("tasks[0].depends_on", "unknown task 'nope'")]


def test_a_self_loop_is_named() -> None:
    found = problems_of([{"name": "a", "executor": "noop", "depends_on": ["a"]}])

    assert found == [("tasks[0].depends_on", "task 'a' depends on itself")]


def test_duplicate_task_names_are_named() -> None:
    found = problems_of([{"name": "a", "executor": "noop"}, {"name": "a", "executor": "noop"}])

    assert found == [("tasks[1].name", "duplicate task name 'a' (also tasks[0])")]


def test_a_cycle_is_reported_with_its_path() -> None:
    found = problems_of(
        [
            {"name": "a", "executor": "noop", "depends_on": ["c"]},
            {"name": "b", "executor": "noop", "depends_on": ["a"]},
            {"name": "c", "executor": "noop", "depends_on": ["b"]},
        ]
    )

    assert found == [("tasks[0].depends_on", "dependency cycle: a -> c -> b -> a")]


def test_a_long_chain_is_checked_without_recursion_limits() -> None:
    tasks = [{"name": "t0", "executor": "noop"}] + [
        {"name": f"t{i}", "executor": "noop", "depends_on": [f"t{i - 1}"]} for i in range(1, 1000)
    ]

    assert problems_of(tasks) == []


def test_registering_an_invalid_graph_raises_and_records_nothing() -> None:
    spec = WorkflowSpec.model_validate(
        {"name": "w", "tasks": [{"name": "a", "executor": "noop", "depends_on": ["a"]}]}
    )

    with pytest.raises(InvalidWorkflowError) as raised:
        Workflow.register("default", spec, an_origin())

    assert raised.value.problems[0].loc == "tasks[0].depends_on"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "", "tasks": [{"name": "a", "command": "x"}]}, ("name",)),
        ({"name": "a b", "tasks": [{"name": "a", "command": "x"}]}, ("name",)),
        ({"name": "x" * 65, "tasks": [{"name": "a", "command": "x"}]}, ("name",)),
        ({"name": "w", "tasks": []}, ("tasks",)),
        ({"name": "w", "tasks": [{"name": "a", "command": "x\x00y"}]}, ("tasks", 0, "command")),
        ({"name": "w", "tasks": [{"name": "a", "command": "\ud800"}]}, ("tasks", 0, "command")),
        (
            {"name": "w", "tasks": [{"name": "a", "command": "x", "timeout_seconds": -1}]},
            ("tasks", 0, "timeout_seconds"),
        ),
        (
            {"name": "w", "tasks": [{"name": "a", "command": "x", "timeout_seconds": 0}]},
            ("tasks", 0, "timeout_seconds"),
        ),
        (
            {"name": "w", "tasks": [{"name": "a", "command": "x", "status": "done"}]},
            ("tasks", 0, "status"),
        ),
        ({"name": "w", "tenant": "t", "tasks": [{"name": "a", "command": "x"}]}, ("tenant",)),
        ({"name": "w", "tasks": [{"name": "a"}]}, ("tasks", 0)),
        ({"name": "w", "tasks": [{"name": "a", "executor": "noop", "command": "x"}]}, ("tasks", 0)),
        (
            {"name": "w", "tasks": [{"name": "a", "executor": "docker", "command": "x"}]},
            ("tasks", 0, "executor"),
        ),
    ],
)
def test_bad_fields_are_refused_with_their_location(
    body: dict[str, Any], loc: tuple[object, ...]
) -> None:
    assert loc in field_errors(body)


def test_more_than_a_thousand_tasks_are_refused() -> None:
    tasks = [{"name": f"t{i}", "executor": "noop"} for i in range(1001)]

    assert ("tasks",) in field_errors({"name": "w", "tasks": tasks})


def test_an_unchanged_definition_is_not_a_new_version() -> None:
    workflow = Workflow.register("default", a_spec(), an_origin())

    changed = workflow.revise(a_spec(), an_origin())

    assert not changed
    assert workflow.current_version == 1


def test_a_changed_definition_is_the_next_version_and_old_ones_remain() -> None:
    workflow = Workflow.register("default", a_spec(), an_origin())
    revised = a_spec(tasks=[{"name": "only", "executor": "noop"}])

    workflow.revise(revised, an_origin())

    assert workflow.current_version == 2
    assert workflow.spec(1) == a_spec()
    assert workflow.spec().tasks[0].name == "only"
