"""`ledgerflow workers list`: the worker processes the engine has heard from, and their liveness."""

import argparse
from typing import TYPE_CHECKING

from gateways.cli.output import show
from gateways.cli.tables import table
from gateways.client.pages import Page
from gateways.client.views import Worker

if TYPE_CHECKING:
    from gateways.cli.arguments import Subparsers
    from gateways.client.api import LedgerflowClient


def add_worker_commands(commands: "Subparsers", common: argparse.ArgumentParser) -> None:
    """`workers list` under `commands`."""
    workers = commands.add_parser(
        "workers",
        help="list workers and their liveness (over the HTTP API)",
        description="Worker processes, registered by their heartbeats.",
    )
    actions = workers.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="list workers with their queues, capacity and status",
        description="Every worker the engine has heard from: its queues, capacity, host and "
        "status (registered, draining, lost after three missed heartbeats, deregistered).",
    )
    listing.set_defaults(api_command=_list)


def _list(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    workers = client.list_workers()
    page: Page[Worker] = {"items": workers, "next_cursor": None}
    show(args, page, lambda: _workers_table(workers) if workers else "no workers")
    return 0


def _workers_table(workers: list[Worker]) -> str:
    return table(
        ["name", "status", "queues", "capacity", "host", "version", "since"],
        [
            (
                worker["name"],
                worker["status"],
                ",".join(worker["queues"]),
                worker["capacity"],
                worker["host"],
                worker["version"],
                worker["last_change_at"],
            )
            for worker in workers
        ],
    )
