"""Stored histories stay readable as event classes change: a history written by an earlier
release replays with today's code, and an event class that changes shape upcasts old events."""

import json
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent

from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from ops.transfer import import_events

HISTORIES = Path(__file__).parent / "histories"
GOLDEN_RUN = UUID("a0f87c5e-a8f9-5465-889c-ebbbb1097fda")
MEMORY = "tests.unit.test_http_builders:PositionedPOPOFactory"


def test_a_run_history_written_by_an_earlier_release_replays_to_the_same_state() -> None:
    engine = Ledgerflow(env={"PERSISTENCE_MODULE": MEMORY})
    with (HISTORIES / "run-0.1.jsonl").open() as file:
        import_events(engine, file)

    run = engine.get_run("default", GOLDEN_RUN)

    assert (run.status, run.version, run.inputs) == ("succeeded", 12, {"date": "2026-05-01"})
    assert (run.tasks["extract"].attempt, run.tasks["extract"].output) == (2, {"rows": 3})
    assert run.tasks["load"].status is TaskStatus.SUCCEEDED
    assert engine.get_workflow("default", "etl").current_version == 1


def test_a_run_started_before_schedules_existed_is_upcast_to_no_scheduled_tick() -> None:
    engine = Ledgerflow(env={"PERSISTENCE_MODULE": MEMORY})
    lines = (HISTORIES / "run-0.1.jsonl").read_text().splitlines()
    lines[1] = as_run_started_v1(lines[1])

    import_events(engine, lines)

    assert engine.get_run("default", GOLDEN_RUN).scheduled_for is None


def test_a_task_started_before_worker_processes_were_told_apart_names_no_process() -> None:
    engine = Ledgerflow(env={"PERSISTENCE_MODULE": MEMORY})
    with (HISTORIES / "run-0.1.jsonl").open() as file:
        import_events(engine, file)

    starts = [e for e in engine.events.get(GOLDEN_RUN) if type(e).__name__ == "TaskStarted"]

    assert starts
    assert {vars(start).get("instance") for start in starts} == {None}
    assert engine.get_run("default", GOLDEN_RUN).tasks["load"].instance is None


def as_run_started_v1(line: str) -> str:
    """A `RunStarted` line as version 1 of the event stored it: no `scheduled_for`."""
    stored = json.loads(line)
    state = json.loads(stored["state"])
    assert state.pop("class_version") == 2
    del state["scheduled_for"]
    stored["state"] = json.dumps(state, separators=(",", ":"))
    return json.dumps(stored)


class Note(Aggregate):
    """A stand-in aggregate whose event changed shape in its second version."""

    class Written(Aggregate.Event):
        """v1 had `text` only; v2 adds `language`, which v1 events did not record."""

        class_version = 2
        text: str
        language: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = "und"  # BCP 47 for "undetermined": v1 did not know

    @event(Written)
    def write(self, text: str, language: str) -> None:
        self.text = text
        self.language = language


class Notes(Application[UUID]):
    pass


def a_v1_history(note_id: UUID) -> list[StoredEvent]:
    """What v1 of `Note` stored: a created event, then `Written` without `language`."""
    topic = f"{__name__}:Note"
    created = (
        '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-05-01T12:00:00+00:00"},'
        f'"originator_topic":"{topic}"}}'
    )
    written = (
        '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-05-01T12:00:01+00:00"},'
        '"text":"hello"}'
    )
    return [
        StoredEvent(note_id, 1, f"{topic}.Created", created.encode()),
        StoredEvent(note_id, 2, f"{topic}.Written", written.encode()),
    ]


def test_an_old_version_of_an_event_is_upcast_when_its_aggregate_is_replayed() -> None:
    app = Notes(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    note_id = uuid4()
    app.recorder.insert_events(a_v1_history(note_id))

    note: Note = app.repository.get(note_id)

    assert (note.text, note.language, note.version) == ("hello", "und", 2)


def test_a_new_event_records_its_class_version_so_it_is_not_upcast_again() -> None:
    app = Notes(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    note = Note()
    note.write("bonjour", "fr")
    app.save(note)

    stored = app.recorder.select_events(note.id)[-1]

    assert b'"class_version":2' in stored.state
    assert app.repository.get(note.id).language == "fr"
