"""`ledgerflow runs get|list|tasks`: a run, lists of runs, and a run's attempts."""

import argparse
from typing import TYPE_CHECKING

from gateways.cli.output import show, show_page
from gateways.cli.tables import duration, fields, table
from gateways.client.pages import Page
from gateways.client.views import Attempt, Fork, Run, RunSummary

if TYPE_CHECKING:
    from gateways.client.api import LedgerflowClient


def get(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    run = client.get_run(args.run_id)
    show(args, run, lambda: _run_text(run))
    return 0


def _fork_text(fork: Fork) -> str:
    return f"{fork['run_id']} (at version {fork['from_version']})"


def _run_text(run: Run) -> str:
    summary = fields(
        [
            ("run", run["id"]),
            ("workflow", f"{run['workflow']} (version {run['workflow_version']})"),
            ("status", run["status"]),
            ("reason", run["reason"]),
            ("trigger", run["trigger"]),
            ("retry of", run["retry_of"]),
            ("retried by", ", ".join(run["retried_by"]) or None),
            ("forked from", run["forked_from"] and _fork_text(run["forked_from"])),
            ("forked by", ", ".join(_fork_text(fork) for fork in run["forked_by"]) or None),
            ("created", run["created_at"]),
            ("finished", run["finished_at"]),
            ("inputs", run["inputs"] or None),
        ]
    )
    tasks = table(
        ["task", "status", "attempt", "worker", "exit", "started", "finished", "detail"],
        [
            (
                task["name"],
                task["status"],
                task["attempt"],
                task["worker"],
                task["exit_code"],
                task["started_at"],
                task["finished_at"],
                task["error"] or task["reason"] or task["cause"],
            )
            for task in run["tasks"]
        ],
    )
    return f"{summary}\n\n{tasks}"


def listing(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    def fetch(cursor: str | None) -> Page[RunSummary]:
        return client.list_runs(
            workflow=args.workflow,
            status=args.status,
            trigger=args.trigger,
            created_after=args.created_after,
            created_before=args.created_before,
            limit=args.limit,
            cursor=cursor,
        )

    show_page(args, fetch, _runs_table, noun="runs")
    return 0


def _runs_table(runs: list[RunSummary]) -> str:
    return table(
        ["id", "workflow", "version", "status", "trigger", "created", "duration"],
        [
            (
                run["id"],
                run["workflow"],
                run["workflow_version"],
                run["status"],
                run["trigger"],
                run["created_at"],
                duration(run["duration_ms"]),
            )
            for run in runs
        ],
    )


def tasks(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    attempts = client.run_tasks(args.run_id)
    page: Page[Attempt] = {"items": attempts, "next_cursor": None}
    show(args, page, lambda: _attempts_table(attempts) if attempts else "no attempts yet")
    return 0


def _attempts_table(attempts: list[Attempt]) -> str:
    return table(
        ["task", "attempt", "status", "queue", "worker", "exit", "started", "duration", "detail"],
        [
            (
                attempt["task"],
                attempt["attempt"],
                attempt["status"],
                attempt["queue"],
                attempt["worker"],
                attempt["exit_code"],
                attempt["started_at"],
                duration(attempt["duration_ms"]),
                attempt["error"] or attempt["cause"],
            )
            for attempt in attempts
        ],
    )
