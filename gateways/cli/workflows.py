"""`ledgerflow workflows list|get|apply|retire` and `ledgerflow stats`: workflow definitions."""

import argparse
from typing import TYPE_CHECKING, Any

from gateways.cli.arguments import instant, page_options, positive_int
from gateways.cli.documents import STDIN, DocumentError, read_object
from gateways.cli.output import show, show_page
from gateways.cli.tables import cell, duration, fields, table
from gateways.client.pages import Page
from gateways.client.views import (
    StatisticsBucket,
    WorkflowApplied,
    WorkflowDefinition,
    WorkflowSummary,
)

if TYPE_CHECKING:
    from gateways.cli.arguments import Subparsers
    from gateways.client.api import LedgerflowClient

_EXECUTOR_FIELD = {"shell": "command", "python": "target", "http": "url"}


def add_workflow_commands(commands: "Subparsers", common: argparse.ArgumentParser) -> None:
    """`workflows ...` under `commands`; `common` holds --api-url and --json."""
    workflows = commands.add_parser(
        "workflows",
        help="list, read, apply and retire workflow definitions (over the HTTP API)",
        description="Workflow definitions: every change is a new version; runs pin the "
        "version they start on.",
    )
    actions = workflows.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="list workflows with their latest run",
        description="The workflows by name, each with its current version, latest run and "
        "run count (from a read model: a change made a moment ago may not show yet).",
    )
    listing.add_argument(
        "--include-retired", action="store_true", help="also list retired workflows"
    )
    page_options(listing, "workflows")
    listing.set_defaults(api_command=_list)

    get = actions.add_parser(
        "get",
        parents=[common],
        help="show a workflow's definition",
        description="A workflow's definition and tasks, at its current version or --version.",
    )
    get.add_argument("name", metavar="WORKFLOW")
    get.add_argument("--version", type=positive_int, metavar="N", help="a past version")
    get.set_defaults(api_command=_get)

    apply = actions.add_parser(
        "apply",
        parents=[common],
        help="create or revise a workflow from a file",
        description="Create the workflow a definition names, or record a new version if the "
        "definition changed; the same definition again changes nothing (safe in deploy "
        "pipelines). Example: ledgerflow workflows apply hello.json",
    )
    apply.add_argument(
        "file", metavar="FILE", help="a JSON definition (YAML if named .yaml/.yml); - for stdin"
    )
    apply.set_defaults(api_command=_apply)

    retire = actions.add_parser(
        "retire",
        parents=[common],
        help="start no more runs of a workflow",
        description="Retire a workflow: it starts no more runs (running ones go on) until "
        "its definition is applied again.",
    )
    retire.add_argument("name", metavar="WORKFLOW")
    retire.add_argument("--reason", help="why (recorded in the workflow's history)")
    retire.set_defaults(api_command=_retire)


def add_stats_command(commands: "Subparsers", common: argparse.ArgumentParser) -> None:
    """`stats WORKFLOW` under `commands`."""
    stats = commands.add_parser(
        "stats",
        parents=[common],
        help="a workflow's run statistics per hour or day",
        description="How many runs of a workflow finished in each UTC hour or day (newest "
        "first), how many succeeded, failed or were cancelled, and how long they took. "
        "Example: ledgerflow stats hello --granularity day --since 2026-05-01",
    )
    stats.add_argument("name", metavar="WORKFLOW")
    stats.add_argument("--granularity", choices=["hour", "day"], help="bucket size (hour)")
    stats.add_argument("--since", type=instant, metavar="WHEN", help="first bucket (a date-time)")
    stats.add_argument("--until", type=instant, metavar="WHEN", help="end (a date-time)")
    page_options(stats, "buckets")
    stats.set_defaults(api_command=_stats)


def _list(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    show_page(
        args,
        lambda cursor: client.list_workflows(
            include_retired=args.include_retired, limit=args.limit, cursor=cursor
        ),
        _workflow_table,
        noun="workflows",
    )
    return 0


def _workflow_table(workflows: list[WorkflowSummary]) -> str:
    rows = []
    for workflow in workflows:
        last = workflow["last_run"]
        rows.append(
            (
                workflow["name"],
                workflow["current_version"],
                workflow["run_count"],
                None if last is None else last["status"],
                None if last is None else last["at"],
                "retired" if workflow.get("retired") else "active",
                workflow["description"],
            )
        )
    headers = ["name", "version", "runs", "last run", "last run at", "state", "description"]
    return table(headers, rows)


def _get(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    workflow = client.get_workflow(args.name, args.version)
    show(args, workflow, lambda: _definition(workflow))
    return 0


def _definition(workflow: WorkflowDefinition) -> str:
    version = f"{workflow['version']} (current: {workflow['current_version']})"
    summary = fields(
        [
            ("workflow", workflow["name"]),
            ("version", version),
            ("description", workflow["description"] or None),
            ("created", workflow["created_at"]),
            ("updated", workflow["updated_at"]),
            ("retired", _retirement(workflow)),
        ]
    )
    tasks = table(
        ["task", "executor", "queue", "depends on", "timeout", "runs"],
        [_task_row(task) for task in workflow["tasks"]],
    )
    return f"{summary}\n\n{tasks}"


def _retirement(workflow: WorkflowDefinition) -> str | None:
    if not workflow.get("retired"):
        return None
    reason = workflow.get("retired_reason")
    at = cell(workflow.get("retired_at"))
    return f"{at} ({reason})" if reason else at


def _task_row(task: dict[str, Any]) -> tuple[object, ...]:
    executor = str(task.get("executor", "shell"))
    what = task.get(_EXECUTOR_FIELD.get(executor, ""))
    timeout = task.get("timeout_seconds")
    return (
        task.get("name"),
        executor,
        task.get("queue"),
        ", ".join(task.get("depends_on") or []),
        None if timeout is None else f"{timeout:g}s",
        what,
    )


def _apply(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    spec = read_object(args.file)
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        source = "stdin" if args.file == STDIN else args.file
        raise DocumentError(f'{source} has no "name": a workflow definition needs one')
    applied = client.apply_workflow(spec)
    show(args, applied, lambda: f"workflow {applied['name']}: {_applied(applied)}")
    return 0


def _applied(applied: WorkflowApplied) -> str:
    version = applied["version"]
    return {
        "created": f"created (version {version})",
        "revised": f"revised (now version {version})",
        "unchanged": f"unchanged (version {version})",
    }.get(applied["applied"], f"{applied['applied']} (version {version})")


def _retire(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    client.retire_workflow(args.name, args.reason)
    show(args, {"name": args.name, "retired": True}, lambda: f"workflow {args.name}: retired")
    return 0


def _stats(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    def fetch(cursor: str | None) -> Page[StatisticsBucket]:
        return client.workflow_statistics(
            args.name,
            granularity=args.granularity,
            since=args.since,
            until=args.until,
            limit=args.limit,
            cursor=cursor,
        )

    show_page(args, fetch, _statistics_table, noun="statistics")
    return 0


def _statistics_table(buckets: list[StatisticsBucket]) -> str:
    headers = ["bucket", "finished", "succeeded", "failed", "cancelled", "success"]
    return table([*headers, "p50", "p95", "p99", "mean", "max"], [_bucket_row(b) for b in buckets])


def _bucket_row(bucket: StatisticsBucket) -> tuple[object, ...]:
    spent = bucket["duration_ms"]
    return (
        bucket["bucket_start"],
        bucket["finished"],
        bucket["succeeded"],
        bucket["failed"],
        bucket["cancelled"],
        f"{bucket['success_rate']:.1%}",
        *map(duration, (spent["p50"], spent["p95"], spent["p99"], spent["mean"], spent["max"])),
    )
