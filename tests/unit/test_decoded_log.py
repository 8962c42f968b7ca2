"""One decode per notification of the log: followers share the event, commands never do."""

from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from aggregates.run import Run
from engine.application import Ledgerflow
from ops import decoded_log
from ops.decoded_log import SharedDecodingMapper
from tests.builders import a_new_run


def an_engine() -> Ledgerflow:
    return Ledgerflow(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "MAPPER_TOPIC": _topic()})


def _topic() -> str:
    return f"{SharedDecodingMapper.__module__}:{SharedDecodingMapper.__qualname__}"


def notifications(app: Application[UUID]) -> list[Notification]:
    return list(app.recorder.select_notifications(start=1, limit=100))


def test_a_notification_is_decoded_once_and_every_follower_gets_the_same_event() -> None:
    engine = an_engine()
    engine.save(a_new_run())
    first = notifications(engine)
    again = notifications(engine)  # read again, as another follower would: new objects

    decoded = [engine.mapper.to_domain_event(n) for n in first]

    assert isinstance(engine.mapper, SharedDecodingMapper)
    assert len(first) > 1
    assert [engine.mapper.to_domain_event(n) for n in again] == decoded
    assert all(
        a is b for a, b in zip(decoded, map(engine.mapper.to_domain_event, again), strict=True)
    )


def test_an_aggregates_events_read_for_a_command_are_decoded_afresh() -> None:
    engine = an_engine()
    run = a_new_run()
    engine.save(run)
    for notification in notifications(engine):
        engine.mapper.to_domain_event(notification)

    first: Run = engine.repository.get(run.id)
    second: Run = engine.repository.get(run.id)

    assert first.version == second.version == run.version
    assert first is not second


def test_only_the_latest_notifications_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoded_log, "DECODED_NOTIFICATIONS", 2)
    engine = an_engine()
    engine.save(a_new_run(), a_new_run())
    read = notifications(engine)
    assert len(read) > 2
    events = [engine.mapper.to_domain_event(n) for n in read]

    latest = [
        engine.mapper.to_domain_event(n) is e for n, e in zip(read[-2:], events[-2:], strict=True)
    ]
    oldest = engine.mapper.to_domain_event(read[0])

    assert latest == [True, True]
    assert oldest is not events[0]
    assert oldest == events[0]
