"""What `audit verify`, `replay --verify`, `export` and `import` do on the store, and print."""

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from engine.application import Ledgerflow
from ops.hash_chain import ChainReport, verify_chains
from ops.settings import Settings, SettingsError
from ops.system import build_engine, build_rebuilder, read_models
from ops.transfer import Selection, export, import_events
from projections.verification import Verified


def audit_verify(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _engine(settings) as engine:
        recorder = engine.recorder
        datastore = engine.factory.datastore  # type: ignore[attr-defined]  # PostgreSQL only
        report = verify_chains(datastore, recorder.events_table_name)  # type: ignore[attr-defined]
    out.write(_chain_text(report))
    return 0 if report.first_break is None else 1


def _chain_text(report: ChainReport) -> str:
    counts = (
        f"{report.aggregates} aggregate(s): {report.chained} event(s) chained, "
        f"{report.unchained} unchained (recorded before the chain began)\n"
    )
    broken = report.first_break
    if broken is not None:
        return (
            counts + f"BROKEN at {broken.aggregate_id} version {broken.version}: {broken.problem}\n"
        )
    return counts + f"every chain holds; head digest {report.head_digest}\n"


def replay_verify(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    known = {model.name: model for model in read_models()}
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        msg = f"unknown read model(s) {', '.join(unknown)}; known: {', '.join(known)}"
        raise SettingsError(msg)
    models = [known[name] for name in args.names] if args.names else list(known.values())
    with _engine(settings) as engine:
        results = build_rebuilder(engine).verify(models)
    for result in results:
        out.write(_verified_text(result))
    return 0 if all(result.matches for result in results) else 1


def _verified_text(result: Verified) -> str:
    if result.matches:
        return f"{result.name}: replay matches ({result.rows} rows at position {result.position})\n"
    lines = [f"{result.name}: replay DIFFERS at position {result.position}"]
    for table in result.differences:
        lines.append(f"  {table.table}: {table.count} row(s) differ")
        lines += [f"    only live:     {row}" for row in table.only_live]
        lines += [f"    only replayed: {row}" for row in table.only_replayed]
    return "\n".join(lines) + "\n"


def export_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    selection = Selection(args.tenant, run=args.run, workflow=args.workflow, since=args.since)
    with _engine(settings) as engine:
        if args.output is None:
            written = export(engine, selection, out)
        else:
            with args.output.open("w", encoding="utf-8") as file:
                written = export(engine, selection, file)
    print(f"exported {written} event(s)", file=sys.stderr)
    return 0


def import_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    path: Path = args.file
    with _engine(settings) as engine:
        if str(path) == "-":
            written, present = import_events(engine, sys.stdin)
        else:
            with path.open(encoding="utf-8") as file:
                written, present = import_events(engine, file)
    out.write(f"imported {written} event(s); {present} already present\n")
    return 0


@contextmanager
def _engine(settings: Settings) -> Iterator[Ledgerflow]:
    engine = build_engine(settings)
    try:
        yield engine
    finally:
        engine.close()


COMMAND_RUNNERS: dict[str, Callable[[argparse.Namespace, Settings, TextIO], int]] = {
    "audit": audit_verify,
    "replay": replay_verify,
    "export": export_command,
    "import": import_command,
}
