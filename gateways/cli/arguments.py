"""The user commands' shared options and argument types (run ids, instants, KEY=VALUE inputs)."""

import argparse
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from gateways.client.address import API_URL_VARIABLE, DEFAULT_API_URL

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

MAX_PAGE_SIZE = 500
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def common_options() -> argparse.ArgumentParser:
    """The options every user command takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        metavar="URL",
        help=f"the Ledgerflow HTTP API (default: ${API_URL_VARIABLE}, else {DEFAULT_API_URL})",
    )
    common.add_argument(
        "--json", action="store_true", help="print the API's JSON answer instead of a table"
    )
    return common


def page_options(parser: argparse.ArgumentParser, what: str) -> None:
    """`--limit`, and `--cursor` or `--all`, for a command that lists a paged resource."""
    parser.add_argument(
        "--limit", type=page_size, metavar="N", help=f"{what} per page, 1-{MAX_PAGE_SIZE} (50)"
    )
    pages = parser.add_mutually_exclusive_group()
    pages.add_argument("--cursor", metavar="CURSOR", help="start at this page (a next_cursor)")
    pages.add_argument("--all", action="store_true", help="follow next_cursor to the last page")


def page_size(text: str) -> int:
    """An integer from 1 to 500."""
    number = positive_int(text)
    if number > MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_PAGE_SIZE}")
    return number


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is less than 1")
    return number


def seconds(text: str) -> float:
    """A non-negative number of seconds."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite, non-negative number")
    return number


def run_id(text: str) -> str:
    """A run id: a UUID."""
    try:
        return str(UUID(text))
    except ValueError:
        msg = f"{text!r} is not a run id (a UUID like 0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10)"
        raise argparse.ArgumentTypeError(msg) from None


def instant(text: str) -> str:
    """An RFC 3339 date-time with its time zone, or a date (its midnight, UTC)."""
    if _DATE.fullmatch(text):
        return f"{text}T00:00:00Z"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed.isoformat()
    msg = f"{text!r} is not a date (2026-05-01) or a date-time with a zone (2026-05-01T12:00Z)"
    raise argparse.ArgumentTypeError(msg)


def input_pair(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` (a string) or `KEY:=JSON` (any JSON value)."""
    key, equals, value = text.partition("=")
    if not equals:
        msg = f"{text!r} is not KEY=VALUE (or KEY:=JSON for numbers, booleans, lists, objects)"
        raise argparse.ArgumentTypeError(msg)
    as_json = key.endswith(":")
    key = key.removesuffix(":")
    if not key:
        raise argparse.ArgumentTypeError(f"{text!r} has no KEY before the '='")
    if not as_json:
        return key, value
    try:
        return key, json.loads(value)
    except ValueError:
        msg = f"the value of {key!r} is not JSON; write {key}={value} for a string"
        raise argparse.ArgumentTypeError(msg) from None
