"""History read from stored states is the history decoded through domain events: the same
entries, and byte for byte the same pages, for every filter, cursor and page size."""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from litestar.serialization import encode_json

from aggregates.names import DEFAULT_TENANT
from aggregates.run import TaskReport
from engine.application import Ledgerflow
from engine.event_types import RUN_EVENTS, topics_of
from engine.history import PositionedEventLog, history_entry
from gateways.http.history import HistoryPage, after_version
from ops.transfer import import_events
from tests.builders import a_spec
from tests.unit.test_event_versions import GOLDEN_RUN, HISTORIES, as_run_started_v1
from tests.unit.test_http_builders import Client, a_client, an_engine
from tests.unit.test_reconstruction import a_run_whose_tasks_each_fail_once

FILTERS: list[tuple[str, ...]] = [
    (),
    ("TaskQueued",),
    ("TaskFailed", "TaskRetryScheduled"),
    ("RunStarted", "TaskSucceeded"),
]
LIMITS = [1, 4, 500]
TYPED_OUTPUT: dict[str, Any] = {
    "at": datetime(2026, 5, 1, 12, 0, 0, 500, tzinfo=UTC),
    "on_the_hour": datetime(2026, 5, 1, 12, tzinfo=UTC),
    "local": datetime(2026, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
    "naive": datetime(2026, 5, 1, 12, 0, 0, 250000),
    "id": UUID("9b2f8a1e-4c3d-4e5f-8a9b-0c1d2e3f4a5b"),
    "amount": Decimal("1.50"),
    "rows": [{"n": 1, "seen": [datetime(2026, 5, 2, tzinfo=UTC)]}, [], {}],
    "text": 'é 😀 \u2028 \x01 "quoted" \\ </tag>',
    "big": 2**70,
    "ratio": 0.1,
    "tiny": 1.5e-7,
    "huge": 1e16,
    "nothing": None,
    "flag": True,
    "_type_": "not a transcoded object: it has more than two keys",
}
"""A task's output holding every kind of value the transcoder stores, nested."""


def a_rich_history(engine: Ledgerflow) -> list[UUID]:
    """Three runs: release 0.1's golden run (no traceparents) with its `RunStarted` stored by
    version 1 of the event (so it is upcast), a run of retried tasks, and a run whose
    inputs and task output nest datetimes, UUIDs, decimals and unusual numbers and text."""
    lines = (HISTORIES / "run-0.1.jsonl").read_text().splitlines()
    lines[1] = as_run_started_v1(lines[1])
    import_events(engine, lines)
    retried, _ = a_run_whose_tasks_each_fail_once(engine)
    engine.register_workflow(
        DEFAULT_TENANT,
        a_spec("typed", [{"name": "extract", "executor": "noop"}]),
        engine.origin("t"),
    )
    inputs = {"date": "2026-05-01", "nested": {"list": [1, 2.5, None, True, "ü"]}}
    typed, _ = engine.start_run(DEFAULT_TENANT, "typed", inputs, engine.origin("alice", "req-é"))
    engine.record_reports([
        TaskReport(typed.id, DEFAULT_TENANT, "extract", 1, 1, "w1", "started"),
        TaskReport(
            typed.id, DEFAULT_TENANT, "extract", 1, 1, "w1", "succeeded",
            exit_code=0, output=TYPED_OUTPUT,
        ),
    ])  # fmt: skip
    return [GOLDEN_RUN, retried, typed.id]


def decoded_page(
    engine: Ledgerflow, run_id: UUID, *, after: int, types: Sequence[str], limit: int
) -> bytes:
    """The page as the API wrote it before reading states directly: each event decoded by
    the mapper into a domain event, a validated `HistoryPage`, encoded by Litestar's pydantic
    plugin (`model_dump(mode="json")`, then Litestar's JSON encoder)."""
    log = engine.recorder
    assert isinstance(log, PositionedEventLog)
    topics = [topics_of(RUN_EVENTS)[name] for name in types]
    rows = log.select_positioned_events(run_id, after_version=after, limit=limit + 1, topics=topics)
    entries = [history_entry(position, engine.mapper.to_domain_event(e)) for position, e in rows]
    return encode_json(HistoryPage.of(entries, limit).model_dump(mode="json"))


def served_pages(
    client: Client, run_id: UUID, types: Sequence[str], limit: int
) -> Iterator[tuple[int, bytes]]:
    """Every page of the run's history over HTTP, following `next_cursor`, each with the run
    version it starts after."""
    params: dict[str, Any] = {"limit": limit, "type": list(types)}
    after = 0
    while True:
        response = client.get(f"/v1/runs/{run_id}/events", params=params)
        assert response.status_code == 200, response.text
        yield after, response.content
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return
        after = after_version(None, cursor)
        params = {"limit": limit, "type": list(types), "cursor": cursor}


def assert_every_page_is_the_decoded_page(engine: Ledgerflow, run_ids: Sequence[UUID]) -> None:
    with a_client(engine) as client:
        for run_id in run_ids:
            for types in FILTERS:
                for limit in LIMITS:
                    for after, served in served_pages(client, run_id, types, limit):
                        expected = decoded_page(
                            engine, run_id, after=after, types=types, limit=limit
                        )
                        assert served == expected, (run_id, types, limit, after)


def assert_every_entry_is_the_decoded_entry(engine: Ledgerflow) -> int:
    """Compares the two paths over every event in the store; the number of events."""
    stored = engine.recorder.select_notifications(start=1, limit=10_000)
    for event in stored:
        decoded = history_entry(event.id, engine.mapper.to_domain_event(event))

        read = engine.history_decoder.entry(event.id, event)

        assert read == decoded
        assert repr(read) == repr(decoded)  # the same types too: 1 == 1.0 == True
    return len(stored)


def test_entries_read_from_stored_states_are_the_entries_decoded_through_domain_events() -> None:
    engine = an_engine()
    a_rich_history(engine)

    compared = assert_every_entry_is_the_decoded_entry(engine)

    assert compared > 50


def test_every_page_filter_and_cursor_is_byte_for_byte_the_page_decoded_before() -> None:
    engine = an_engine()
    run_ids = a_rich_history(engine)

    assert_every_page_is_the_decoded_page(engine, run_ids)


def test_the_typed_output_comes_back_with_its_types_and_the_old_event_upcast() -> None:
    engine = an_engine()
    golden, _, typed = a_rich_history(engine)

    succeeded = engine.run_history(DEFAULT_TENANT, typed, types=["TaskSucceeded"])[0]
    started = engine.run_history(DEFAULT_TENANT, golden, limit=1)[0]

    assert succeeded.data["output"] == TYPED_OUTPUT
    assert succeeded.trace_id is not None
    assert (started.type, started.data["scheduled_for"], started.trace_id) == (
        "RunStarted",
        None,
        None,
    )


@pytest.mark.parametrize("state", [b'{"timestamp": NaN}', b'{"x": 1e400}'])
def test_json_only_the_standard_library_reads_goes_through_the_mapper(state: bytes) -> None:
    engine = an_engine()
    a_rich_history(engine)
    event = engine.recorder.select_notifications(start=1, limit=1)[0]
    fields = engine.mapper.transcoder.decode(event.state) | engine.mapper.transcoder.decode(state)
    odd = type(event)(
        id=event.id,
        originator_id=event.originator_id,
        originator_version=event.originator_version,
        topic=event.topic,
        state=engine.mapper.transcoder.encode(fields),
    )

    read = engine.history_decoder.entry(event.id, odd)

    assert repr(read) == repr(history_entry(event.id, engine.mapper.to_domain_event(odd)))
