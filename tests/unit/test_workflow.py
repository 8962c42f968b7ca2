"""The Workflow aggregate: versions, retirement and restoration, including the no-ops."""

from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest
from eventsourcing.application import Application

from aggregates.errors import WorkflowRetiredError
from aggregates.provenance import Origin
from aggregates.workflow import Workflow
from engine.history import flat_event_type
from tests.builders import AN_INSTANT, a_spec, an_origin

LATER = AN_INSTANT + timedelta(hours=1)


def later(actor: str = "tester") -> Origin:
    return replace(an_origin(actor), correlation_id="corr-2", at=LATER)


def a_workflow() -> Workflow:
    workflow = Workflow.register("default", a_spec(), an_origin())
    workflow.collect_events()
    return workflow


def a_retired_workflow() -> Workflow:
    workflow = a_workflow()
    workflow.retire("replaced", an_origin())
    workflow.collect_events()
    return workflow


def types(workflow: Workflow) -> list[str]:
    return [flat_event_type(event) for event in workflow.collect_events()]


def test_retiring_records_who_retired_it_when_and_why() -> None:
    workflow = a_workflow()

    retired = workflow.retire("replaced by hello-v2", later("ops"))

    (event,) = workflow.collect_events()
    assert retired
    assert flat_event_type(event) == "WorkflowRetired"
    assert isinstance(event, Workflow.Retired)
    assert (event.name, event.reason) == ("hello", "replaced by hello-v2")
    assert (event.tenant, event.actor, event.correlation_id) == ("default", "ops", "corr-2")
    assert (workflow.is_retired, workflow.retired_at) == (True, LATER)
    assert workflow.retired_reason == "replaced by hello-v2"


def test_a_retired_workflow_keeps_its_versions() -> None:
    workflow = a_workflow()

    workflow.retire(None, later())

    assert workflow.current_version == 1
    assert workflow.spec(1) == a_spec()
    assert workflow.version_recorded_at == AN_INSTANT


def test_retiring_a_retired_workflow_records_nothing() -> None:
    workflow = a_retired_workflow()

    retired = workflow.retire("again", later())

    assert not retired
    assert workflow.collect_events() == []
    assert workflow.retired_reason == "replaced"


def test_a_retired_workflow_starts_no_run() -> None:
    workflow = a_retired_workflow()

    with pytest.raises(WorkflowRetiredError):
        workflow.spec_to_run()


def test_an_active_workflow_runs_its_current_version() -> None:
    workflow = a_workflow()
    workflow.revise(a_spec().model_copy(update={"description": "v2"}), later())

    assert workflow.spec_to_run().description == "v2"


def test_applying_an_unchanged_definition_restores_a_retired_workflow_at_a_new_version() -> None:
    workflow = a_retired_workflow()

    restored = workflow.revise(a_spec(), later())

    assert restored
    assert types(workflow) == ["WorkflowRestored"]
    assert (workflow.current_version, workflow.is_retired, workflow.retired_at) == (2, False, None)
    assert workflow.spec(2) == a_spec()
    assert workflow.version_recorded_at == LATER


def test_applying_a_changed_definition_restores_a_retired_workflow_with_it() -> None:
    workflow = a_retired_workflow()
    changed = a_spec().model_copy(update={"description": "back"})

    workflow.revise(changed, later())

    assert types(workflow) == ["WorkflowRestored"]
    assert workflow.spec_to_run().description == "back"


def test_applying_an_unchanged_definition_to_an_active_workflow_records_nothing() -> None:
    workflow = a_workflow()

    revised = workflow.revise(a_spec(), later())

    assert not revised
    assert workflow.collect_events() == []


def test_a_retired_and_restored_workflow_reads_back_the_same_from_its_events() -> None:
    app: Application[UUID] = Application()
    live = Workflow.register("default", a_spec(), an_origin())
    live.retire("paused", later())
    live.revise(a_spec(), later())
    live.retire(None, later())
    app.save(live)

    stored: Workflow = app.repository.get(live.id)

    assert (stored.current_version, stored.retired_at, stored.retired_reason) == (2, LATER, None)
    assert stored.version_recorded_at == LATER
    assert [flat_event_type(e) for e in app.repository.event_store.get(live.id)] == [
        "WorkflowRegistered",
        "WorkflowRetired",
        "WorkflowRestored",
        "WorkflowRetired",
    ]
