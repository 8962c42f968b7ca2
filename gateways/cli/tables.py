"""Plain-text output for people: aligned tables, label-value blocks, and readable cell values."""

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

EMPTY = "-"
MAX_CELL = 60
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_MS_PER_SECOND = 1000
_SECONDS_PER_MINUTE = 60
_SECONDS_PER_HOUR = 3600


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns aligned on the widest cell, two spaces apart, headers upper-cased."""
    lines = [[header.upper() for header in headers]]
    lines += [[cell(value) for value in row] for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(headers))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def fields(pairs: Iterable[tuple[str, object]]) -> str:
    """`label  value` lines with the values aligned; pairs whose value is None are left out."""
    shown = [(label, cell(value, limit=None)) for label, value in pairs if value is not None]
    width = max((len(label) for label, _ in shown), default=0)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in shown)


def cell(value: object, limit: int | None = MAX_CELL) -> str:
    """One value on one line: instants in UTC, JSON for structures, long text shortened."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    elif isinstance(value, str) and _INSTANT.match(value):
        text = instant(value)
    else:
        text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def instant(value: str) -> str:
    """An RFC 3339 instant as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(milliseconds: int | None) -> str:
    """`850ms`, `12.3s`, `4m05s` or `2h03m`."""
    if milliseconds is None:
        return EMPTY
    if milliseconds < _MS_PER_SECOND:
        return f"{milliseconds}ms"
    seconds = milliseconds / _MS_PER_SECOND
    if seconds < _SECONDS_PER_MINUTE:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < _SECONDS_PER_HOUR:
        return f"{whole // _SECONDS_PER_MINUTE}m{whole % _SECONDS_PER_MINUTE:02d}s"
    return f"{whole // _SECONDS_PER_HOUR}h{whole % _SECONDS_PER_HOUR // _SECONDS_PER_MINUTE:02d}m"
