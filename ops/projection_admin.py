"""`ledgerflow projections status|rebuild`: read models' lag, and rebuilding them, on the store."""

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import TextIO

from ops.settings import Settings, SettingsError
from ops.system import build_engine, build_projection_status, build_rebuilder, read_models
from projections.status import ProjectionStatus

_COLUMNS = ("name", "version", "built_version", "position", "head", "lag_events", "lag_seconds")


def projections_status(settings: Settings, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Print each read model's version, position and lag; 0 when every one is current."""
    engine = build_engine(settings)
    try:
        statuses = build_projection_status(engine)()
    finally:
        engine.close()
    if as_json:
        json.dump({"items": [asdict(status) for status in statuses]}, out, indent=2)
        out.write("\n")
    else:
        out.write(_table(statuses))
    return 0 if all(s.built_version == s.version for s in statuses) else 1


def projections_rebuild(settings: Settings, names: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Rebuild the named read models (all by default) from position 0 while they keep serving."""
    known = {model.name: model for model in read_models()}
    unknown = sorted(set(names) - set(known))
    if unknown:
        msg = f"unknown read model(s) {', '.join(unknown)}; known: {', '.join(known)}"
        raise SettingsError(msg)
    models = [known[name] for name in names] if names else list(known.values())
    engine = build_engine(settings)
    try:
        for rebuilt in build_rebuilder(engine).rebuild(models):
            out.write(
                f"rebuilt {rebuilt.name} (version {rebuilt.version}): {rebuilt.events} events "
                f"to position {rebuilt.position} in {rebuilt.seconds:.1f} s\n"
            )
    finally:
        engine.close()
    return 0


def _table(statuses: Sequence[ProjectionStatus]) -> str:
    rows = [[*_COLUMNS, "following"]]
    for status in statuses:
        values = asdict(status)
        values["lag_seconds"] = f"{status.lag_seconds:.1f}"
        rows.append([str(values[c]) for c in _COLUMNS] + ["yes" if status.following else "no"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in rows
    )
