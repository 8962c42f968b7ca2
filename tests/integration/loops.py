"""Components' loops (`run(stop)`) running for the length of a test block, then stopped."""

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

HANG = 30.0
"""How long a stopped loop may take to end: a hang detector."""


class Loop(Protocol):
    def run(self, stop: asyncio.Event) -> Coroutine[Any, Any, None]: ...


L = TypeVar("L", bound=Loop)


@asynccontextmanager
async def all_running(*loops: Loop) -> AsyncIterator[None]:
    """Every loop runs in the block; leaving it stops them all and waits for their ends."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), HANG)


@asynccontextmanager
async def running(loop: L) -> AsyncIterator[L]:
    """One loop running in the block (as `all_running`), given back for the block to use."""
    async with all_running(loop):
        yield loop
