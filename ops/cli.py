"""The `ledgerflow` command: process entry points (`up`, `api`, `engine`, `worker`, `migrate`)."""

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateways.cli.commands import add_commands, is_user_command, run_command
from ops.history_admin import COMMANDS as HISTORY_ADMIN_COMMANDS
from ops.history_admin import add_history_admin_commands, run_history_admin
from ops.settings import Settings, SettingsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledgerflow",
        description="Ledgerflow: an event-sourced workflow engine. Every process reads "
        "LEDGERFLOW_* environment variables (see README); flags override them.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="run API + engine + worker; embedded PostgreSQL and NATS unless URLs are set",
        description="Start everything on this machine. Without LEDGERFLOW_DATABASE_URL / "
        "LEDGERFLOW_NATS_URL, real PostgreSQL and nats-server are started from their wheels "
        "under --data-dir, and reuse its data on the next start.",
    )
    up.add_argument("--host", help="address the API listens on (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="port the API listens on (default 8080)")
    up.add_argument(
        "--data-dir", type=Path, help="where embedded servers keep data (./.ledgerflow)"
    )
    up.add_argument(
        "--api-processes",
        type=int,
        metavar="N",
        help="API processes sharing the port, for concurrent clients (default 1, or "
        "LEDGERFLOW_API_PROCESSES)",
    )

    api = commands.add_parser("api", help="serve the HTTP API", description="Serve the HTTP API.")
    api.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, help="port to listen on (default 8080)")

    commands.add_parser(
        "engine",
        help="run the dispatcher and the result recorder",
        description="Follow the event log to dispatch queued tasks, and record workers' results.",
    )

    worker = commands.add_parser(
        "worker", help="run a stateless worker", description="Pull tasks from NATS and run them."
    )
    worker.add_argument("--name", help="worker name (default <host>-<pid>)")
    worker.add_argument("--queues", help="comma-separated task queues (default: default)")
    worker.add_argument("--concurrency", type=int, help="tasks run at once (default 4)")
    worker.add_argument(
        "--executors",
        help="comma-separated executors this worker runs (default: shell,noop,python,http); "
        "others are handed back to its peers on the queue",
    )
    worker.add_argument(
        "--import",
        dest="imports",
        action="append",
        metavar="MODULE",
        help="a module python tasks use, imported at start to fail early (repeatable; adds to "
        "LEDGERFLOW_WORKER_IMPORTS); tasks may still use modules not named here",
    )
    worker.add_argument(
        "--drain-grace",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM, how long running tasks may finish before they are handed back "
        "(default 30)",
    )

    commands.add_parser(
        "migrate",
        help="create the schema and tables (idempotent)",
        description="Create the database schema and tables once, and rebuild read models "
        "built by another version; `up` runs it first.",
    )
    _add_projection_commands(commands)
    _add_event_commands(commands)
    add_history_admin_commands(commands)
    add_commands(commands)  # workflows, runs, workers, stats: over the HTTP API, no settings
    return parser


def _add_projection_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    projections = commands.add_parser(
        "projections",
        help="read models: their lag behind the log, and rebuilding them",
        description="Work on the read models in the store directly (LEDGERFLOW_DATABASE_URL, "
        "or the servers of a `ledgerflow up` running with the same --data-dir).",
    )
    actions = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="each read model's version, position and lag",
        description="Print each read model's version (in code and as built), its position, "
        "the log's head and the lag in events and seconds, and whether a follower is running. "
        "Exit code 1 if a read model was built by another version.",
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.add_argument("--data-dir", type=Path, help="the --data-dir of a running `up`")
    rebuild = actions.add_parser(
        "rebuild",
        help="rebuild read models from position 0, online",
        description="Replay the whole log into fresh tables beside the live ones, then swap them "
        "in; the API keeps serving the old tables meanwhile. Without NAME, every read model.",
    )
    rebuild.add_argument("names", nargs="*", metavar="NAME", help="attempts, runs, ...")
    rebuild.add_argument("--data-dir", type=Path, help="the --data-dir of a running `up`")


def _add_event_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    events = commands.add_parser(
        "events",
        help="the outbound CloudEvents stream on JetStream",
        description="Work on the events stream directly (LEDGERFLOW_DATABASE_URL and "
        "LEDGERFLOW_NATS_URL, or the servers of a `ledgerflow up` with the same --data-dir).",
    )
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    republish = actions.add_parser(
        "republish",
        help="publish the log's events again from a position",
        description="Re-fill the events stream from the event log, from POSITION up to the "
        "log's current head, in log order. Copies still inside the stream's duplicate window "
        "are de-duplicated; consumers de-duplicate older ones by CloudEvent id.",
    )
    republish.add_argument(
        "--from",
        dest="start",
        type=int,
        required=True,
        metavar="POSITION",
        help="the first log position to publish (1: the whole log)",
    )
    republish.add_argument("--data-dir", type=Path, help="the --data-dir of a running `up`")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None),
        "api_processes": getattr(args, "api_processes", None),
        "worker_name": getattr(args, "name", None),
        "worker_concurrency": getattr(args, "concurrency", None),
        "worker_drain_grace": getattr(args, "drain_grace", None),
    }
    queues = getattr(args, "queues", None)
    if queues:
        overrides["worker_queues"] = tuple(queues.split(","))
    executors = getattr(args, "executors", None)
    if executors:
        overrides["worker_executors"] = tuple(executors.split(","))
    imports = getattr(args, "imports", None)
    if imports:
        overrides["worker_imports"] = (*settings.worker_imports, *imports)
    settings = dataclasses.replace(
        settings, **{key: value for key, value in overrides.items() if value is not None}
    )
    settings.check()
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if is_user_command(args):
        return run_command(args)
    try:
        settings = _settings(args)
    except SettingsError as error:
        print(f"ledgerflow: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s {args.command} %(levelname)s %(name)s: %(message)s",
    )
    # Imported here so `ledgerflow --help` stays fast and each process loads only its parts.
    if args.command == "up":
        from ops.supervisor import up

        return up(settings)
    store_command = _STORE_COMMANDS.get(args.command)
    if store_command is not None:  # admin commands on the store (and streams) directly
        return store_command(args, settings)
    if args.command == "migrate":
        from ops.migrate import migrate

        migrate(settings)
        print("migrated", file=sys.stderr)
        return 0
    from ops import processes

    service = {
        "api": processes.serve_api,
        "engine": processes.serve_engine,
        "worker": processes.serve_worker,
    }[args.command]
    processes.run_service(service, settings)
    return 0


def _projections(args: argparse.Namespace, settings: Settings) -> int:
    from eventsourcing.persistence import PersistenceError

    from ops.projection_admin import projections_rebuild, projections_status
    from ops.supervisor import servers_of_up

    settings = servers_of_up(settings)
    if settings.database_url is None:
        print(
            f"ledgerflow: no database: set LEDGERFLOW_DATABASE_URL, or give the --data-dir of a "
            f"running `ledgerflow up` (looked in {settings.data_dir.resolve()})",
            file=sys.stderr,
        )
        return 2
    try:
        if args.action == "status":
            return projections_status(settings, as_json=args.json)
        return projections_rebuild(settings, args.names)
    except SettingsError as error:
        print(f"ledgerflow: {error}", file=sys.stderr)
        return 2
    except PersistenceError as error:
        print(f"ledgerflow: PostgreSQL: {error}", file=sys.stderr)
        return 1


def _events(args: argparse.Namespace, settings: Settings) -> int:
    from ops.events import events_republish
    from ops.supervisor import servers_of_up

    settings = servers_of_up(settings)
    if settings.database_url is None or settings.nats_url is None:
        print(
            "ledgerflow: no database or NATS: set LEDGERFLOW_DATABASE_URL and "
            "LEDGERFLOW_NATS_URL, or give the --data-dir of a running `ledgerflow up` "
            f"(looked in {settings.data_dir.resolve()})",
            file=sys.stderr,
        )
        return 2
    if args.start < 1:
        print("ledgerflow: --from must be a log position, 1 or more", file=sys.stderr)
        return 2
    try:
        return events_republish(settings, args.start)
    except Exception as error:  # PostgreSQL or NATS unreachable: one line, no traceback
        print(f"ledgerflow: cannot republish: {error!r}", file=sys.stderr)
        return 1


_STORE_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "projections": _projections,
    "events": _events,
    **dict.fromkeys(HISTORY_ADMIN_COMMANDS, run_history_admin),
}


if __name__ == "__main__":
    sys.exit(main())
