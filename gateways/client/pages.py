"""Lists come in pages: one page's shape, and a generator that follows `next_cursor`."""

from collections.abc import Callable, Iterator
from typing import Generic, TypedDict, TypeVar

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next (null: the last)."""

    items: list[T]
    next_cursor: str | None


def follow(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a list, page after page: `fetch(cursor)` gets the page at `cursor`."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return
