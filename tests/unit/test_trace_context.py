"""W3C trace context: a request's `traceparent` follows its run's whole history, as `trace_id`
in histories and the `traceparent` extension of CloudEvents; without one, a trace starts."""

import pytest

from aggregates.trace_context import new_traceparent, trace_id, valid_traceparent
from engine.application import Ledgerflow
from ops.transfer import import_events
from tests.unit.test_cloud_events import an_engine_with_a_run
from tests.unit.test_event_versions import GOLDEN_RUN, HISTORIES, MEMORY
from tests.unit.test_http_builders import a_client, a_registered_workflow, a_spec, an_engine
from tests.unit.test_http_events import a_client_of
from tests.unit.test_http_ingest import an_event, ingest
from tests.unit.test_http_retry import report

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_valid_traceparent_is_kept_and_a_future_version_is_read_as_version_00() -> None:
    assert valid_traceparent(CALLER) == CALLER
    assert valid_traceparent(f"cc{CALLER[2:]}-future-fields") == f"00{CALLER[2:]}"


@pytest.mark.parametrize(
    "offered",
    [
        None,
        "",
        "garbage",
        CALLER.upper(),
        f"ff{CALLER[2:]}",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{CALLER_TRACE}-{'0' * 16}-01",
        f"{CALLER}-trailing",
        CALLER[:-1],
        CALLER + "x" * 600,
    ],
)
def test_a_malformed_traceparent_is_ignored(offered: str | None) -> None:
    assert valid_traceparent(offered) is None


def test_new_traces_are_valid_and_distinct() -> None:
    first, second = new_traceparent(), new_traceparent()

    assert valid_traceparent(first) == first
    assert trace_id(first) != trace_id(second)


def test_every_event_of_a_run_started_in_a_callers_trace_carries_that_trace() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client)
        run = client.post("/v1/workflows/etl/runs", json={}, headers={"traceparent": CALLER})
        engine.record_reports([report(run.json(), "extract", "succeeded")])

        events = client.get(f"/v1/runs/{run.json()['id']}/events").json()["items"]

    assert {event["actor"] for event in events} == {"anonymous", "worker:w1"}
    assert {event["trace_id"] for event in events} == {CALLER_TRACE}


def test_a_request_without_a_valid_traceparent_starts_a_trace_of_its_own() -> None:
    with a_client() as client:
        a_registered_workflow(client)
        runs = [
            client.post("/v1/workflows/etl/runs", json={}, headers=headers).json()["id"]
            for headers in ({}, {"traceparent": CALLER.upper()})
        ]

        traces = [
            {e["trace_id"] for e in client.get(f"/v1/runs/{run}/events").json()["items"]}
            for run in runs
        ]

    assert all(len(trace) == 1 and None not in trace for trace in traces)
    assert traces[0] != traces[1]
    assert CALLER_TRACE not in traces[1]


def test_a_cloud_event_carries_its_traceparent_extension() -> None:
    with a_client_of(an_engine_with_a_run()) as client:
        events = client.get("/v1/events").json()["items"]

    assert all(valid_traceparent(event["traceparent"]) for event in events)
    runs = [event for event in events if event.get("run")]
    assert len({event["traceparent"] for event in runs}) == 1


def test_an_ingested_cloud_event_puts_the_runs_it_starts_in_its_senders_trace() -> None:
    with a_client() as client:
        triggers = [{"subject": "orders.created"}]
        client.post("/v1/workflows", json=a_spec("fulfil", triggers=triggers))

        started = ingest(client, an_event(traceparent=CALLER)).json()["runs"][0]
        history = client.get(f"{started['url']}/events").json()["items"]

    assert {event["trace_id"] for event in history} == {CALLER_TRACE}


def test_events_stored_before_traces_existed_have_none() -> None:
    engine = Ledgerflow(env={"PERSISTENCE_MODULE": MEMORY})
    with (HISTORIES / "run-0.1.jsonl").open() as file:
        import_events(engine, file)

    with a_client(engine) as client:
        history = client.get(f"/v1/runs/{GOLDEN_RUN}/events").json()["items"]
        cloud_events = client.get("/v1/events").json()["items"]

    assert {event["trace_id"] for event in history} == {None}
    assert all("traceparent" not in event for event in cloud_events)
