"""`ledgerflow runs ...`: every runs command's parser, and start, cancel, retry, fork and
wait."""

import argparse
from typing import TYPE_CHECKING, Any

from gateways.cli import run_reads
from gateways.cli.arguments import (
    input_pair,
    instant,
    page_options,
    positive_int,
    run_id,
    seconds,
)
from gateways.cli.documents import read_object
from gateways.cli.output import show
from gateways.cli.run_history import add_history_commands
from gateways.client.views import Run

if TYPE_CHECKING:
    from gateways.cli.arguments import Subparsers
    from gateways.client.api import LedgerflowClient

RUN_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"]


def add_run_commands(commands: "Subparsers", common: argparse.ArgumentParser) -> None:
    """`runs start|get|list|cancel|retry|fork|history|events|replay|tasks|wait` under
    `commands`."""
    runs = commands.add_parser(
        "runs",
        help="start, list, inspect, cancel, retry, fork and wait for runs (over the HTTP API)",
        description="Runs: one execution of a pinned workflow version, with its event history.",
    )
    actions = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_start(actions, common)
    _add_list(actions, common)
    for name, summary, handler in (
        ("get", "show a run and its tasks (read from its own events)", run_reads.get),
        ("tasks", "every attempt of a run's tasks: timings, workers, errors", run_reads.tasks),
        ("retry", "start a new run reusing a failed or cancelled run's successes", _retry),
    ):
        parser = actions.add_parser(name, parents=[common], help=summary, description=summary)
        parser.add_argument("run_id", type=run_id, metavar="RUN_ID")
        parser.set_defaults(api_command=handler)
    add_history_commands(actions, common)
    cancel = actions.add_parser(
        "cancel",
        parents=[common],
        help="cancel a run",
        description="Cancel every task of the run not yet finished, and finish the run.",
    )
    cancel.add_argument("run_id", type=run_id, metavar="RUN_ID")
    cancel.add_argument("--reason", help="why (recorded in the run's history)")
    cancel.set_defaults(api_command=_cancel)
    _add_fork(actions, common)
    _add_wait(actions, common)


def _add_start(actions: "Subparsers", common: argparse.ArgumentParser) -> None:
    start = actions.add_parser(
        "start",
        parents=[common],
        help="start a run of a workflow",
        description="Start a run of the workflow's current version and print its id. "
        "Example: ledgerflow runs start hello --input date=2026-05-01 --input retries:=3",
    )
    start.add_argument("workflow", metavar="WORKFLOW")
    start.add_argument(
        "--input",
        dest="inputs",
        type=input_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input as a string, or KEY:=JSON for any JSON value (repeatable; "
        "overrides --inputs-file)",
    )
    start.add_argument(
        "--inputs-file", metavar="FILE", help="a JSON (or YAML) object of inputs; - for stdin"
    )
    start.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="repeating the command with the same key and inputs returns the same run",
    )
    start.add_argument("-q", "--quiet", action="store_true", help="print only the run id")
    start.set_defaults(api_command=_start)


def _add_list(actions: "Subparsers", common: argparse.ArgumentParser) -> None:
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="list runs, newest first, with filters",
        description="Runs newest first, from a read model (a run started a moment ago may "
        "not show yet). Repeat a filter to match any of its values.",
    )
    listing.add_argument("--workflow", action="append", metavar="NAME", help="of this workflow")
    listing.add_argument("--status", action="append", choices=RUN_STATUSES, help="in this state")
    listing.add_argument("--trigger", action="append", metavar="HOW", help="e.g. api or retry")
    listing.add_argument("--created-after", type=instant, metavar="WHEN", help="at or after")
    listing.add_argument("--created-before", type=instant, metavar="WHEN", help="before")
    page_options(listing, "runs")
    listing.set_defaults(api_command=run_reads.listing)


def _add_fork(actions: "Subparsers", common: argparse.ArgumentParser) -> None:
    fork = actions.add_parser(
        "fork",
        parents=[common],
        help="start a new run from a run's state at one of its versions",
        description="Start a new run from the run's state after its N-th event (`runs "
        "events RUN_ID` numbers them): tasks that had succeeded by then are reused, the rest "
        "run again. Both runs' histories show the link. "
        "Example: ledgerflow runs fork RUN_ID --from-version 5",
    )
    fork.add_argument("run_id", type=run_id, metavar="RUN_ID")
    fork.add_argument(
        "--from-version", type=positive_int, required=True, metavar="N", help="1 is RunStarted"
    )
    fork.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="repeating the command with the same key, run and version returns the same run",
    )
    fork.set_defaults(api_command=_fork)


def _add_wait(actions: "Subparsers", common: argparse.ArgumentParser) -> None:
    wait = actions.add_parser(
        "wait",
        parents=[common],
        help="wait until a run finishes; exit 0 only if it succeeded",
        description="Wait (long polling) until the run is succeeded, failed or cancelled. "
        "The exit code is 0 if it succeeded, 1 if not or if --timeout passed first.",
    )
    wait.add_argument("run_id", type=run_id, metavar="RUN_ID")
    wait.add_argument(
        "--timeout", type=seconds, metavar="SECONDS", help="give up after this long (never)"
    )
    wait.set_defaults(api_command=_wait)


def _start(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    inputs: dict[str, Any] = {} if args.inputs_file is None else read_object(args.inputs_file)
    inputs.update(args.inputs)
    run = client.start_run(args.workflow, inputs, idempotency_key=args.idempotency_key)
    if args.quiet:
        print(run["id"])
    else:
        show(args, run, lambda: f"{run['id']}  {_pinned(run)} {run['status']}")
    return 0


def _cancel(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    run = client.cancel_run(args.run_id, args.reason)
    show(args, run, lambda: f"{run['id']}  {_pinned(run)} {run['status']}")
    return 0


def _retry(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    run = client.retry_run(args.run_id)
    show(args, run, lambda: f"{run['id']}  {_pinned(run)} {run['status']} (retry of {args.run_id})")
    return 0


def _fork(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    run = client.fork_run(args.run_id, args.from_version, idempotency_key=args.idempotency_key)
    forked = f"(forked from {args.run_id} at version {args.from_version})"
    show(args, run, lambda: f"{run['id']}  {_pinned(run)} {run['status']} {forked}")
    return 0


def _wait(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    run = client.wait_for_run(args.run_id, timeout=args.timeout)
    reason = f": {run['reason']}" if run["reason"] else ""
    show(args, run, lambda: f"{run['id']}  {_pinned(run)} {run['status']}{reason}")
    return 0 if run["status"] == "succeeded" else 1


def _pinned(run: Run) -> str:
    return f"{run['workflow']} v{run['workflow_version']}"
