"""The user commands' entry: their parsers, and running one against the API with readable errors."""

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gateways.cli.arguments import common_options
from gateways.cli.documents import DocumentError
from gateways.cli.runs import add_run_commands
from gateways.cli.workers import add_worker_commands
from gateways.cli.workflows import add_stats_command, add_workflow_commands
from gateways.client.errors import ApiError, ApiUnreachableError

if TYPE_CHECKING:
    import httpx

    from gateways.cli.arguments import Subparsers
    from gateways.client.api import LedgerflowClient

PROG = "ledgerflow"
USAGE_ERROR = 2
INTERRUPTED = 130

ApiCommand = Callable[["LedgerflowClient", argparse.Namespace], int]
"""What a user command does with a client; its exit code."""


def add_commands(commands: "Subparsers") -> None:
    """Add `workflows`, `runs`, `workers` and `stats` to a `ledgerflow` parser's subcommands."""
    common = common_options()
    add_workflow_commands(commands, common)
    add_run_commands(commands, common)
    add_worker_commands(commands, common)
    add_stats_command(commands, common)


def is_user_command(args: argparse.Namespace) -> bool:
    """Whether `args` chose one of the commands `add_commands` added."""
    return callable(getattr(args, "api_command", None))


def run_command(args: argparse.Namespace, *, transport: "httpx.BaseTransport | None" = None) -> int:
    """Run the chosen user command; errors become one line on stderr and exit code 1."""
    # Imported here: httpx loads only when a user command runs, not for `--help` or processes.
    from gateways.client.api import LedgerflowClient

    command: ApiCommand = args.api_command
    try:
        client = LedgerflowClient(args.api_url, transport=transport)
    except ValueError as error:
        return _fail(str(error), USAGE_ERROR)
    try:
        with client:
            return command(client, args)
    except (ApiError, ApiUnreachableError, DocumentError, TimeoutError) as error:
        return _fail(_readable(error))
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:  # `ledgerflow runs list | head -1`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def main(
    argv: Sequence[str] | None = None, *, transport: "httpx.BaseTransport | None" = None
) -> int:
    """`ledgerflow` with the user commands only; `transport` reaches an API without a socket."""
    parser = argparse.ArgumentParser(prog=PROG, description="Ledgerflow's user commands.")
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return run_command(parser.parse_args(argv), transport=transport)


def _readable(error: Exception) -> str:
    if isinstance(error, ApiUnreachableError) and error.refused:
        return f"cannot reach the API at {error.url}: is 'ledgerflow up' running?"
    return str(error)


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code
