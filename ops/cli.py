"""The `ledgerflow` command: process entry points (`up`, `api`, `engine`, `worker`, `migrate`)."""

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

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
        description="Create the database schema and tables once; `up` runs it first.",
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None),
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


if __name__ == "__main__":
    sys.exit(main())
