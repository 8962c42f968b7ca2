"""Domain events as CloudEvents: names, ids, envelope, oversized messages and schemas."""

from typing import Any

from cloudevents.core.formats.json import JSONFormat

from aggregates.run import Run, TaskReport
from aggregates.workflow import Workflow
from engine.application import Ledgerflow
from engine.cloud_events import cloud_event_id, cloud_event_type, position_of
from engine.event_feed import EventFeed, FeedQuery
from engine.event_schemas import event_schemas
from engine.event_types import ALL_EVENTS
from streams.event_relay import outbound
from streams.subjects import Subjects
from tests.builders import a_spec
from tests.unit.test_http_builders import an_engine


def an_engine_with_a_run() -> Ledgerflow:
    engine = an_engine()
    origin = engine.origin("tester", "req-1")
    engine.register_workflow("default", a_spec("etl"), origin)
    run, _ = engine.start_run("default", "etl", {"day": "monday"}, origin)
    engine.record_reports([TaskReport(run.id, "default", "a", 1, 1, "w1", "started")])
    return engine


def test_types_name_the_aggregate_the_event_in_snake_case_and_its_version() -> None:
    assert cloud_event_type(Run.TaskSucceeded) == "dev.ledgerflow.run.task_succeeded.v1"
    assert cloud_event_type(Workflow.Registered) == "dev.ledgerflow.workflow.registered.v1"


def test_ids_are_derived_from_the_log_position_and_back() -> None:
    assert cloud_event_id(42) == "ledgerflow-42"
    assert position_of("ledgerflow-42") == 42
    assert position_of("ledgerflow-042") is None
    assert position_of("someone-else-42") is None


def test_every_event_is_a_valid_cloudevent_with_its_run_and_workflow() -> None:
    engine = an_engine_with_a_run()

    page = EventFeed(engine).page(FeedQuery(tenant="default"))

    started = page.items[3]
    event = JSONFormat().read(None, outbound(started, Subjects(), 1 << 20).payload)
    attributes = event.get_attributes()
    assert [item.type for item in page.items[:4]] == [
        "WorkflowRegistered",
        "RunStarted",
        "TaskQueued",
        "TaskStarted",
    ]
    assert event.get_id() == "ledgerflow-4"
    assert event.get_type() == "dev.ledgerflow.run.task_started.v1"
    assert attributes["run"] == event.get_subject()
    assert (attributes["workflow"], attributes["tenant"], attributes["position"]) == (
        "etl",
        "default",
        4,
    )
    assert attributes["correlationid"] == "req-1"
    assert event.get_data() == {
        "task": "a",
        "attempt": 1,
        "delivery": 1,
        "worker": "w1",
        "instance": None,
    }


def test_an_event_too_large_for_a_message_goes_without_its_data_but_with_where_to_read_it() -> None:
    item = EventFeed(an_engine_with_a_run()).page(FeedQuery(tenant="default")).items[1]

    message = outbound(item, Subjects(), max_payload=300)

    event = JSONFormat().read(None, message.payload)
    assert event.get_data() is None
    assert event.get_extension("dataref") == "/v1/events?after=1&limit=1"
    assert message.subject == "ledgerflow.events.default.run.started"
    assert message.message_id == "ledgerflow-2"


def test_each_event_type_has_a_schema_naming_its_data_fields() -> None:
    engine = an_engine_with_a_run()
    items = EventFeed(engine).page(FeedQuery(tenant="default")).items
    schemas = {schema.name: schema.schema for schema in event_schemas()}

    assert set(schemas) == set(ALL_EVENTS)
    for item in items:
        data: dict[str, Any] = item.cloud_event["data"]
        schema = schemas[item.type]
        assert set(data) <= set(schema["properties"]["data"]["properties"])
        assert schema["properties"]["type"] == {"const": item.cloud_event["type"]}
