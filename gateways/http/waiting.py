"""Long polling for a run's end: `GET /v1/runs/{id}?wait=S` answers when the run ends."""

import asyncio
from contextlib import suppress
from typing import Annotated
from uuid import UUID

import anyio.to_thread
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from aggregates.run import Run
from engine.application import Ledgerflow
from engine.run_waits import RunWaits

MAX_WAIT_SECONDS = 10.0
"""Below the request deadline (12 s, ADR 20), so a wait never turns into a 503."""

Wait = Annotated[
    float | None,
    QueryParameter(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Hold the answer up to this many seconds (at most 10) until the run has "
        "ended (succeeded, failed or cancelled), instead of polling. The answer is the run as "
        "it is then, ended or not; ask again to wait longer.",
        examples=[Example(summary="Up to five seconds", value=5)],
    ),
]


async def run_when_ended(
    engine: Ledgerflow, waits: RunWaits, tenant: str, run_id: UUID, seconds: float
) -> Run:
    """The run once it has ended, or as it is after `seconds`."""
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:
        with suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(woken.set)

    deadline = loop.time() + seconds
    unwatch = waits.watch(run_id, wake)
    try:
        while True:
            woken.clear()  # before the read: a wake during it is kept for the next round
            run = await anyio.to_thread.run_sync(engine.get_run, tenant, run_id)
            remaining = deadline - loop.time()
            if run.status.is_terminal or remaining <= 0:
                return run
            with suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), remaining)
    finally:
        unwatch()
