"""`ledgerflow runs history|events|replay`: a run's past as a timeline, as events, and as the
state of its DAG after each event."""

import argparse
from typing import TYPE_CHECKING

from gateways.cli.arguments import positive_int, run_id
from gateways.cli.output import show
from gateways.cli.tables import cell, duration, table
from gateways.client.pages import Page
from gateways.client.views import Event, Run, Timeline

if TYPE_CHECKING:
    from gateways.cli.arguments import Subparsers
    from gateways.client.api import LedgerflowClient

_EVENT_DETAILS = ("task", "attempt", "worker", "exit_code", "cause", "reason", "error")


def add_history_commands(actions: "Subparsers", common: argparse.ArgumentParser) -> None:
    """`runs history|events|replay` under the `runs` command's `actions`."""
    history = actions.add_parser(
        "history",
        parents=[common],
        help="a run's history told step by step: what, when and why",
        description="Every event of the run in words, with the time since the step before, "
        "then how long each task waited and ran. --json prints the API's timeline.",
    )
    history.add_argument("run_id", type=run_id, metavar="RUN_ID")
    history.set_defaults(api_command=history_command)
    events = actions.add_parser(
        "events",
        parents=[common],
        help="every event of a run, oldest first, with its position",
        description="The run's recorded events as a table: position, version, time, type, "
        "actor and the main fields.",
    )
    events.add_argument("run_id", type=run_id, metavar="RUN_ID")
    events.add_argument(
        "--type", dest="types", action="append", metavar="TYPE", help="only this type (repeatable)"
    )
    events.set_defaults(api_command=events_command)
    replay = actions.add_parser(
        "replay",
        parents=[common],
        help="the state of a run's tasks after each event, or at version N",
        description="Rebuild the run from its events: each task's status and attempt after "
        "every event, or the whole run as it stood after its N-th event (--at N).",
    )
    replay.add_argument("run_id", type=run_id, metavar="RUN_ID")
    replay.add_argument("--at", type=positive_int, metavar="N", help="only after the N-th event")
    replay.set_defaults(api_command=replay_command)


def history_command(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    timeline = client.run_timeline(args.run_id)
    show(args, timeline, lambda: _timeline_text(timeline))
    return 0


def _timeline_text(timeline: Timeline) -> str:
    steps = table(
        ["version", "time", "+", "what"],
        [
            (step["version"], step["at"], f"+{duration(step['since_previous_ms'])}", step["text"])
            for step in timeline["items"]
        ],
    )
    tasks = table(
        ["task", "status", "attempts", "waiting", "running"],
        [
            (
                t["task"],
                t["status"],
                t["attempts"],
                duration(t["waiting_ms"]),
                duration(t["running_ms"]),
            )
            for t in timeline["tasks"]
        ],
    )
    return f"{steps}\n\n{tasks}" if timeline["tasks"] else steps


def events_command(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    events = list(client.iter_run_events(args.run_id, limit=500, types=args.types))
    page: Page[Event] = {"items": events, "next_cursor": None}
    show(args, page, lambda: _events_table(events) if events else "no events")
    return 0


def _events_table(events: list[Event]) -> str:
    return table(
        ["position", "version", "time", "type", "actor", "details"],
        [
            (
                event["position"],
                event["version"],
                event["timestamp"],
                event["type"],
                event["actor"],
                _details(event),
            )
            for event in events
        ],
    )


def _details(event: Event) -> str:
    data = event["data"]
    shown = [f"{key}={cell(data[key])}" for key in _EVENT_DETAILS if data.get(key) is not None]
    return " ".join(shown)


def replay_command(client: "LedgerflowClient", args: argparse.Namespace) -> int:
    if args.at is not None:
        run = client.get_run(args.run_id, as_of_version=args.at)
        show(args, run, lambda: _state_line(run, None, verbose=True))
        return 0
    events = list(client.iter_run_events(args.run_id, limit=500))
    states = [client.get_run(args.run_id, as_of_version=e["version"]) for e in events]
    page: Page[Run] = {"items": states, "next_cursor": None}
    show(args, page, lambda: "\n".join(map(_state_line, states, events)))
    return 0


def _state_line(run: Run, event: Event | None, *, verbose: bool = False) -> str:
    """`v3 TaskStarted  run running  a running#1  b pending`: the DAG after one event."""
    tasks = "  ".join(
        f"{t['name']} {t['status']}" + (f"#{t['attempt']}" if t["attempt"] else "")
        for t in run["tasks"]
    )
    what = f" {event['type']}" if event is not None else ""
    line = f"v{run['version']}{what}  run {run['status']}  {tasks}"
    if not verbose:
        return line
    return (
        line
        + "\n"
        + "\n".join(
            f"  {t['name']}: {t['status']}, attempt {t['attempt']}"
            + (f", output {cell(t['output'])}" if t["output"] is not None else "")
            for t in run["tasks"]
        )
    )
