"""`ledgerflow audit verify`, `replay --verify`, `export` and `import`: admin commands on the
event store's history, wired to the store directly."""

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from aggregates.errors import DomainError
from aggregates.names import DEFAULT_TENANT
from ops.settings import Settings, SettingsError

COMMANDS = frozenset({"audit", "replay", "export", "import"})
"""The top-level commands this module adds and runs."""


def add_history_admin_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    """Add `audit verify`, `replay --verify`, `export` and `import` to `commands`."""
    audit = commands.add_parser(
        "audit",
        help="check the events' hash chains (tamper evidence)",
        description="Work on the event store directly (LEDGERFLOW_DATABASE_URL, or the "
        "servers of a `ledgerflow up` running with the same --data-dir).",
    )
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="recompute every aggregate's hash chain; exit 1 at the first break",
        description="Walk every aggregate's events in version order and recompute each "
        "event's hash from its contents and the hash before it. Prints the first break "
        "(aggregate id and version) and exits 1; events recorded before `migrate` added the "
        "chain are counted as unchained, not as tampered. Prints a digest of every chain's "
        "head to keep elsewhere.",
    )
    _data_dir(verify)
    replay = commands.add_parser(
        "replay",
        help="check that replaying the log rebuilds the read models as they are",
        description="With --verify: replay the log from position 0 into scratch tables for "
        "each read model (never swapped in) and compare them row by row with the live "
        "tables at the live tables' position. Exit 1 if any differ.",
    )
    replay.add_argument("--verify", action="store_true", required=True, help="(required)")
    replay.add_argument("names", nargs="*", metavar="NAME", help="attempts, runs, ...")
    _data_dir(replay)
    _add_transfer_commands(commands)


def _add_transfer_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    export = commands.add_parser(
        "export",
        help="write aggregates' events as JSON lines (for `ledgerflow import` elsewhere)",
        description="Write a header line, then one JSON object per event (aggregate_id, "
        "version, topic, state) of one run, of a workflow and its runs, or of every "
        "aggregate changed since an instant (whole, from version 1), to stdout or --output.",
    )
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", type=UUID, metavar="ID", help="one run")
    which.add_argument("--workflow", metavar="NAME", help="a workflow and all its runs")
    which.add_argument("--since", type=_instant, metavar="WHEN", help="RFC 3339, with a zone")
    export.add_argument("--tenant", default=DEFAULT_TENANT, help="whose (default: default)")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="instead of stdout")
    _data_dir(export)
    load = commands.add_parser(
        "import",
        help="import a `ledgerflow export` file, all or nothing (twice changes nothing)",
        description="Check every line first (format, duplicates, missing versions, events "
        "that differ from the store's), then write the new events in one transaction. "
        "Events already in the store are skipped, so importing a file twice changes nothing.",
    )
    load.add_argument("file", type=Path, metavar="FILE", help="a JSON-lines export; - for stdin")
    _data_dir(load)


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="the --data-dir of a running `up`")


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        msg = f"{text!r} is not an RFC 3339 date-time with a zone (2026-05-01T00:00:00Z)"
        raise argparse.ArgumentTypeError(msg)
    return parsed


def run_history_admin(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen command on the store; errors are one line on stderr."""
    from eventsourcing.persistence import PersistenceError  # noqa: PLC0415  # fast --help

    from ops.history_commands import COMMAND_RUNNERS  # noqa: PLC0415
    from ops.supervisor import servers_of_up  # noqa: PLC0415
    from ops.transfer import ImportRefusedError  # noqa: PLC0415

    settings = servers_of_up(settings)
    if settings.database_url is None:
        return _fail(
            "no database: set LEDGERFLOW_DATABASE_URL, or give the --data-dir of a running "
            f"`ledgerflow up` (looked in {settings.data_dir.resolve()})",
            2,
        )
    runner: Callable[[argparse.Namespace, Settings, TextIO], int] = COMMAND_RUNNERS[args.command]
    try:
        return runner(args, settings, sys.stdout)
    except (ImportRefusedError, DomainError, LookupError, OSError, SettingsError) as error:
        return _fail(str(error))
    except PersistenceError as error:
        return _fail(f"PostgreSQL: {error}")


def _fail(message: str, code: int = 1) -> int:
    print(f"ledgerflow: {message}", file=sys.stderr)
    return code
