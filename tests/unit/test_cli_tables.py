"""Plain-text output: aligned columns, one-line cells, instants in UTC, readable durations."""

import pytest

from gateways.cli.tables import cell, duration, fields, table


def test_columns_align_on_their_widest_cell_without_trailing_spaces() -> None:
    text = table(["name", "n"], [("a", 1), ("longer", None)])

    assert text.splitlines() == ["NAME    N", "a       1", "longer  -"]


def test_a_cell_is_one_shortened_line_and_structures_are_json() -> None:
    assert cell("line one\nline two") == "line one line two"
    assert cell("x" * 100) == "x" * 59 + "…"
    assert cell({"a": [1, True]}) == '{"a": [1, true]}'
    assert (cell(True), cell(0), cell("")) == ("yes", "0", "-")


def test_instants_show_in_utc_to_the_second() -> None:
    assert cell("2026-05-01T14:30:05.123456+02:00") == "2026-05-01T12:30:05Z"


@pytest.mark.parametrize(
    ("milliseconds", "shown"),
    [(None, "-"), (850, "850ms"), (12_345, "12.3s"), (245_000, "4m05s"), (7_380_000, "2h03m")],
)
def test_durations_read_at_a_glance(milliseconds: int | None, shown: str) -> None:
    assert duration(milliseconds) == shown


def test_label_value_lines_leave_out_missing_values() -> None:
    assert fields([("run", "r1"), ("reason", None), ("status", "failed")]) == (
        "run     r1\nstatus  failed"
    )
