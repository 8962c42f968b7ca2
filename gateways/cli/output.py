"""What a command prints: the API's JSON for scripts (`--json`), or text for people."""

import argparse
import json
import sys
from collections.abc import Callable
from typing import TypeVar

from gateways.client.pages import Page, follow

T = TypeVar("T")


def show(args: argparse.Namespace, document: object, text: Callable[[], str]) -> None:
    """Print `document` as JSON with `--json`, else what `text` renders."""
    print(as_json(document) if args.json else text())


def as_json(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def show_page(
    args: argparse.Namespace,
    fetch: Callable[[str | None], Page[T]],
    render: Callable[[list[T]], str],
    *,
    noun: str,
) -> None:
    """One page (at `--cursor`), or every page with `--all`; a hint on stderr if more follow."""
    page: Page[T] = (
        {"items": list(follow(fetch)), "next_cursor": None} if args.all else fetch(args.cursor)
    )
    if args.json:
        print(as_json(page))
        return
    print(render(page["items"]) if page["items"] else f"no {noun}")
    if page["next_cursor"] is not None:
        print(f"more {noun}: add --cursor {page['next_cursor']} (or --all)", file=sys.stderr)
