"""On PostgreSQL too, history read from stored states is the history decoded through domain
events: the same entries, and byte for byte the same pages."""

import pytest

from engine.application import Ledgerflow
from tests.unit.test_history_rendering import (
    a_rich_history,
    assert_every_entry_is_the_decoded_entry,
    assert_every_page_is_the_decoded_page,
)

pytestmark = pytest.mark.integration


def test_entries_read_from_stored_states_are_the_decoded_entries(engine: Ledgerflow) -> None:
    a_rich_history(engine)

    compared = assert_every_entry_is_the_decoded_entry(engine)

    assert compared > 50


def test_every_page_filter_and_cursor_is_the_page_decoded_before(engine: Ledgerflow) -> None:
    run_ids = a_rich_history(engine)

    assert_every_page_is_the_decoded_page(engine, run_ids)
