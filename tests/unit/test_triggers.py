"""Triggers: what a workflow's trigger matches, what a message must be, and stable hashes."""

import json
from typing import Any

import pytest

from aggregates.errors import InvalidTriggerMessageError
from aggregates.spec import WorkflowSpec
from aggregates.trigger import TriggerMessage, TriggerSpec, decode_trigger_message
from tests.unit.test_http_builders import an_engine


def a_message(subject: str = "orders.created", **body: Any) -> TriggerMessage:
    return TriggerMessage(subject=subject, id="e1", type="orders.created", body=body)


def a_spec_with(**fields: Any) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {"name": "etl", "tasks": [{"name": "a", "command": "echo a"}], **fields}
    )


def test_a_trigger_matches_its_subject_type_and_filter() -> None:
    trigger = TriggerSpec(
        subject="orders.created", type="orders.created", filter={"data.status": "paid"}
    )

    assert trigger.matches(a_message(data={"status": "paid"}))
    assert not trigger.matches(a_message(data={"status": "pending"}))
    assert not trigger.matches(a_message(data={}))
    assert not trigger.matches(a_message("orders.deleted", data={"status": "paid"}))


def test_a_filter_on_true_does_not_match_one() -> None:
    trigger = TriggerSpec(subject="s", filter={"data.flag": True})

    assert not trigger.matches(a_message("s", data={"flag": 1}))
    assert trigger.matches(a_message("s", data={"flag": True}))


@pytest.mark.parametrize("subject", ["orders.>", "orders.*", "a..b", ".a", "a b", ""])
def test_a_trigger_subject_has_no_wildcards_or_empty_tokens(subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        TriggerSpec(subject=subject)


def test_a_workflow_without_triggers_hashes_as_before_triggers_existed() -> None:
    spec = a_spec_with()

    assert "triggers" not in spec.as_data()
    assert spec.fingerprint() == a_spec_with(triggers=[]).fingerprint()
    assert spec.fingerprint() != a_spec_with(triggers=[{"subject": "x"}]).fingerprint()


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1]", b'{"specversion": "1.0"}', b'{"id": "1", "x": NaN}'],
)
def test_a_message_that_is_not_a_cloud_event_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidTriggerMessageError):
        decode_trigger_message("s", raw, None)


def test_a_message_with_a_nul_character_is_refused() -> None:
    event = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": "a\x00"}

    with pytest.raises(InvalidTriggerMessageError, match="NUL"):
        decode_trigger_message("s", json.dumps(event).encode(), None)


def test_a_revision_that_drops_a_trigger_stops_its_runs() -> None:
    engine = an_engine()
    origin = engine.origin("test")
    engine.register_workflow("t", a_spec_with(triggers=[{"subject": "s"}]), origin)
    engine.apply_workflow("t", a_spec_with(), origin)

    started = engine.start_triggered_runs("t", a_message("s"), "test")

    assert started == []
