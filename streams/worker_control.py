"""How a worker's attempts are stopped: cancel signals, cancelled runs and hand-backs.

Cancel signals (`CancelAttempt`) arrive on `control.<worker>` (core NATS); the bucket of
cancelled runs is checked before an attempt starts; a drain past its grace hands attempts back.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.kv import KeyValue
from pydantic import ValidationError

from streams.executors.execution import Execution
from streams.messages import CancelAttempt, ExecuteTask
from streams.subjects import Subjects
from streams.topology import declare_cancelled_runs

_logger = logging.getLogger(__name__)


@dataclass(eq=False)
class InFlight:
    """One dispatch message a worker holds, and how to stop the attempt it carries."""

    msg: Msg
    command: ExecuteTask | None = None
    execution: "asyncio.Task[Execution] | None" = None
    cancelled: bool = False
    """Stopped by a cancel signal: reported failed "cancelled"."""
    handed_back: bool = False
    """Stopped by a drain past its grace: not reported, the dispatch is nak'ed."""
    start_reported: bool = False
    """Its `started` report is stored; otherwise the outcome carries the start."""

    def is_for(self, cancel: CancelAttempt) -> bool:
        command = self.command
        return command is not None and (command.run_id, command.task, command.attempt) == (
            cancel.run_id,
            cancel.task,
            cancel.attempt,
        )

    def stop(self, *, hand_back: bool) -> None:
        """Stop the attempt unless it has already run (then its outcome is being reported)."""
        if self.execution is not None and self.execution.done():
            return
        self.cancelled, self.handed_back = not hand_back, hand_back
        if self.execution is not None:
            self.execution.cancel()  # the executor kills what it started


class WorkerControl:
    """Tracks a worker's attempts in flight and stops them when told to."""

    def __init__(self, nc: Client, subjects: Subjects, worker: str) -> None:
        self._nc = nc
        self._subjects = subjects
        self._worker = worker
        self._subscription: Subscription | None = None
        self._cancelled_runs: KeyValue | None = None
        self.in_flight: set[InFlight] = set()
        self.malformed = 0
        """Control messages that were not a valid `CancelAttempt` (logged and dropped)."""

    async def start(self) -> None:
        """Declare the cancelled-runs bucket and listen for cancel signals."""
        self._cancelled_runs = await declare_cancelled_runs(self._nc.jetstream(), self._subjects)
        self._subscription = await self._nc.subscribe(
            self._subjects.control(self._worker), cb=self._received
        )

    async def close(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except nats.errors.Error as error:
                _logger.debug("unsubscribing from control messages failed (%r)", error)
            self._subscription = None

    @contextlib.contextmanager
    def tracking(self, msg: Msg) -> Iterator[InFlight]:
        """Count `msg` in flight, so cancel signals and hand-backs can reach its attempt."""
        flight = InFlight(msg)
        self.in_flight.add(flight)
        try:
            yield flight
        finally:
            self.in_flight.discard(flight)

    def hand_back_all(self) -> None:
        """Stop every attempt still running; their dispatches go back to the queue."""
        for flight in self.in_flight:
            flight.stop(hand_back=True)

    async def run_cancelled(self, run_id: UUID) -> bool:
        """Whether the run is in the cancelled-runs bucket; False if the bucket cannot be read.

        Failing open is safe: the engine fences every result of a cancelled run.
        """
        if self._cancelled_runs is None:
            msg = "WorkerControl.start() was not called"
            raise RuntimeError(msg)
        try:
            await self._cancelled_runs.get(str(run_id))
        except nats.js.errors.KeyNotFoundError:
            return False
        except nats.errors.Error as error:
            _logger.warning("cannot read the cancelled runs (%r); starting %s", error, run_id)
            return False
        return True

    async def _received(self, msg: Msg) -> None:
        try:
            cancel = CancelAttempt.model_validate_json(msg.data)
        except ValidationError as error:
            self.malformed += 1
            _logger.warning(
                "dropping a malformed control message on %s (%d errors): %.200r",
                msg.subject,
                error.error_count(),
                msg.data,
            )
            return
        key = f"{cancel.run_id}:{cancel.task}:{cancel.attempt}"
        matching = [flight for flight in self.in_flight if flight.is_for(cancel)]
        if not matching:
            _logger.info("cancel of %s: not running here", key)
        for flight in matching:
            _logger.info("cancelling %s", key)
            flight.stop(hand_back=False)
