"""Moving history between installations: export aggregates' events as JSON lines, and import
such a file all or nothing, idempotently."""

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, LiteralString
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from aggregates.run import Run
from engine.application import Ledgerflow

FORMAT = "ledgerflow-events"
FORMAT_VERSION = 1
_FIELDS = {"aggregate_id": str, "version": int, "topic": str, "state": str}


class ImportRefusedError(Exception):
    """The file cannot be imported; nothing was written."""


@dataclass(frozen=True)
class Selection:
    """What to export: one run, one workflow with its runs, or what changed since an instant."""

    tenant: str
    run: UUID | None = None
    workflow: str | None = None
    since: datetime | None = None


def export(engine: Ledgerflow, selection: Selection, out: IO[str]) -> int:
    """Write a header line, then every event of the selected aggregates; the events written."""
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "selection": {k: _jsonable(v) for k, v in vars(selection).items() if v is not None},
    }
    out.write(json.dumps(header) + "\n")
    written = 0
    for aggregate_id in _aggregates(engine, selection):
        for stored in engine.recorder.select_events(aggregate_id):
            line = {
                "aggregate_id": str(stored.originator_id),
                "version": stored.originator_version,
                "topic": stored.topic,
                "state": stored.state.decode(),
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            written += 1
    return written


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _aggregates(engine: Ledgerflow, selection: Selection) -> list[UUID]:
    if selection.run is not None:
        engine.get_run(selection.tenant, selection.run)  # another tenant's run is not found
        return [selection.run]
    if selection.workflow is not None:
        workflow = engine.get_workflow(selection.tenant, selection.workflow)
        return [workflow.id, *_runs_of(engine, selection.tenant, workflow.name)]
    return _changed_since(engine, selection.tenant, selection.since)


def _query(engine: Ledgerflow, where: LiteralString, params: dict[str, Any]) -> list[UUID]:
    """The tenant's aggregates with an event matching `where`, by their first position."""
    recorder: Any = engine.recorder
    statement = SQL(
        "SELECT e.originator_id FROM {schema}.{table} AS e, "
        "LATERAL (SELECT convert_from(e.state, 'UTF8')::json AS doc) AS s "
        "WHERE s.doc ->> 'tenant' = %(tenant)s AND {where} "
        "GROUP BY e.originator_id ORDER BY min(e.notification_id)"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
        where=SQL(where),
    )
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return [row["originator_id"] for row in cursor.fetchall()]


def _runs_of(engine: Ledgerflow, tenant: str, workflow: str) -> list[UUID]:
    where = "e.topic = %(topic)s AND s.doc ->> 'workflow' = %(workflow)s"
    params = {"tenant": tenant, "topic": get_topic(Run.Started), "workflow": workflow}
    return _query(engine, where, params)


def _changed_since(engine: Ledgerflow, tenant: str, since: datetime | None) -> list[UUID]:
    """Every aggregate with an event at or after `since` (all of them without it), whole."""
    where = "(s.doc -> 'timestamp' ->> '_data_')::timestamptz >= %(since)s"
    return _query(
        engine, where, {"tenant": tenant, "since": since or datetime.min.replace(tzinfo=UTC)}
    )


def import_events(engine: Ledgerflow, lines: Iterable[str]) -> tuple[int, int]:
    """Import an export file in one transaction; (events written, events already present).

    Refused as a whole, with the line at fault, when a line is malformed or repeated, a
    version is missing, or the store holds a different event at the same version.
    """
    events = list(_parse(iter(lines)))
    new: list[StoredEvent] = []
    present = 0
    by_aggregate: dict[UUID, list[tuple[int, StoredEvent]]] = {}
    for number, stored in events:
        by_aggregate.setdefault(UUID(str(stored.originator_id)), []).append((number, stored))
    for aggregate_id, numbered in by_aggregate.items():
        existing = {e.originator_version: e for e in engine.recorder.select_events(aggregate_id)}
        fresh = _fresh(numbered, existing)
        present += len(numbered) - len(fresh)
        new.extend(fresh)
    for stored in new:
        engine.mapper.to_domain_event(stored)  # an unknown topic or unreadable state: refused
    if new:
        engine.recorder.insert_events(new)
    return len(new), present


def _fresh(
    numbered: Sequence[tuple[int, StoredEvent]], existing: dict[int, StoredEvent]
) -> list[StoredEvent]:
    """The events not yet in the store, checked to follow on from its latest version."""
    fresh: list[StoredEvent] = []
    expected = 1
    for number, stored in sorted(numbered, key=lambda item: item[1].originator_version):
        version = stored.originator_version
        if version != expected:
            msg = f"line {number}: {stored.originator_id} version {expected} is missing"
            raise ImportRefusedError(msg)
        expected += 1
        known = existing.get(version)
        if known is None:
            fresh.append(stored)
        elif (known.topic, known.state) != (stored.topic, stored.state):
            msg = (
                f"line {number}: the store holds another event at {stored.originator_id} v{version}"
            )
            raise ImportRefusedError(msg)
    return fresh


def _parse(lines: Iterator[str]) -> Iterator[tuple[int, StoredEvent]]:
    _check_header(next(lines, ""))
    seen: dict[tuple[str, int], int] = {}
    for number, text in enumerate(lines, start=2):
        if not text.strip():
            continue
        line = _object(text, number)
        key = (line["aggregate_id"], line["version"])
        if key in seen:
            msg = f"line {number}: repeats line {seen[key]} ({key[0]} version {key[1]})"
            raise ImportRefusedError(msg)
        seen[key] = number
        yield number, _stored(line, number)


def _check_header(text: str) -> None:
    try:
        header = json.loads(text)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        msg = f"line 1: not a Ledgerflow export (the first line names its format {FORMAT!r})"
        raise ImportRefusedError(msg)
    if header.get("format_version") != FORMAT_VERSION:
        msg = (
            f"line 1: format version {header.get('format_version')!r}; this reads {FORMAT_VERSION}"
        )
        raise ImportRefusedError(msg)


def _object(text: str, number: int) -> dict[str, Any]:
    try:
        line = json.loads(text)
    except ValueError as error:
        raise ImportRefusedError(f"line {number}: not JSON ({error})") from None
    if not isinstance(line, dict):
        raise ImportRefusedError(f"line {number}: not a JSON object")
    for name, kind in _FIELDS.items():
        if not isinstance(line.get(name), kind) or isinstance(line.get(name), bool):
            msg = f"line {number}: `{name}` must be a JSON {kind.__name__}"
            raise ImportRefusedError(msg)
    return line


def _stored(line: dict[str, Any], number: int) -> StoredEvent:
    try:
        aggregate_id = UUID(line["aggregate_id"])
    except ValueError:
        raise ImportRefusedError(f"line {number}: `aggregate_id` is not a UUID") from None
    if line["version"] < 1:
        raise ImportRefusedError(f"line {number}: `version` must be 1 or more")
    return StoredEvent(aggregate_id, line["version"], line["topic"], line["state"].encode())
