"""The stateless worker: pulls dispatch commands, runs them, reports results, then acks."""

import asyncio
import contextlib
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from aggregates.names import is_identifier
from engine.crash_points import crash_point
from streams.executors.execution import Execution
from streams.executors.process import DEFAULT_GRACE_SECONDS
from streams.executors.registry import EXECUTORS, execute
from streams.heartbeats import DEFAULT_HEARTBEAT_SECONDS, Heartbeats, WorkerIdentity
from streams.messages import ExecuteTask, TaskReported
from streams.subjects import Subjects, partition_for
from streams.topology import DEFAULT_ACK_WAIT_SECONDS, declare_dispatch_consumer
from streams.worker_control import InFlight, WorkerControl

_logger = logging.getLogger(__name__)

DEFAULT_DRAIN_GRACE_SECONDS = 30.0
ALL_EXECUTORS = tuple(EXECUTORS)
HAND_BACK_DELAY = 1.0
"""Seconds before a dispatch this worker cannot run is offered again (to its peers)."""
CANCELLED = "cancelled"
CANCELLED_BEFORE_START = "run cancelled before start"

_FETCH_SECONDS = 1.0
_PUBLISH_SECONDS = 2.0
_PUBLISH_ATTEMPTS = 6
_PUBLISH_BACKOFF_CAP_SECONDS = 2.0
_ACK_SECONDS = 2.0
_FETCH_ERROR_PAUSE_SECONDS = 1.0
# Past the drain grace, attempts still reporting an outcome get this long to finish doing so.
_REPORTING_SECONDS = 20.0
_KEEPALIVES_PER_ACK_WAIT = 3
"""In-progress acks per ack wait: well inside it, so a slow task's dispatch is never
redelivered to a second worker while this one runs it, even if one ack is late or lost."""


class Worker:
    """Runs up to `concurrency` task attempts at a time from the dispatch queues it serves.

    It beats every `heartbeat_interval` seconds, obeys cancel signals for its attempts, skips
    attempts of runs already cancelled, and on stop drains: no new work, `drain_grace` seconds
    for the attempts in flight, then the rest are killed and handed back (nak) for redelivery.
    """

    def __init__(
        self,
        nc: Client,
        subjects: Subjects,
        *,
        name: str,
        queues: Sequence[str] = ("default",),
        concurrency: int = 4,
        base_env: Mapping[str, str],
        heartbeat_interval: float = DEFAULT_HEARTBEAT_SECONDS,
        drain_grace: float = DEFAULT_DRAIN_GRACE_SECONDS,
        kill_grace: float = DEFAULT_GRACE_SECONDS,
        executors: Collection[str] = ALL_EXECUTORS,
        start_report_delay: float = 0.0,
        ack_wait: float = DEFAULT_ACK_WAIT_SECONDS,
    ) -> None:
        """`start_report_delay`: seconds an attempt runs before its `started` report is sent;
        one that finishes sooner sends only its outcome, which records the start too (one
        message and one commit instead of two). 0 reports every start at once.

        `ack_wait`: the dispatch consumers' ack wait (declared so by this worker); a running
        attempt's dispatch is kept alive several times within it."""
        if not is_identifier(name):
            msg = f"invalid worker name {name!r}: use 1-64 of [A-Za-z0-9_-]"
            raise ValueError(msg)
        if concurrency < 1:
            msg = f"concurrency must be at least 1, not {concurrency}"
            raise ValueError(msg)
        if drain_grace < 0:
            msg = f"drain grace must not be negative, not {drain_grace}"
            raise ValueError(msg)
        if not start_report_delay >= 0:  # NaN fails too
            msg = f"start report delay must not be negative, not {start_report_delay}"
            raise ValueError(msg)
        if not ack_wait > 0:  # NaN fails too
            msg = f"ack wait must be positive, not {ack_wait}"
            raise ValueError(msg)
        self._js = nc.jetstream()
        self._subjects = subjects
        self._name = name
        self._queues = tuple(queues)
        self._concurrency = concurrency
        self._base_env = dict(base_env)
        self._drain_grace = drain_grace
        self._kill_grace = kill_grace
        self._start_report_delay = start_report_delay
        self._ack_wait = ack_wait
        unknown = set(executors) - set(ALL_EXECUTORS)
        if not executors or unknown:
            msg = f"executors must be some of {', '.join(ALL_EXECUTORS)}, not {sorted(executors)}"
            raise ValueError(msg)
        self._executors = frozenset(executors)
        self._control = WorkerControl(nc, subjects, name)
        self.identity = WorkerIdentity.of_this_process(name, self._queues, concurrency)
        self._heartbeats = Heartbeats(
            nc,
            subjects.heartbeats(name),
            self.identity,
            in_flight=lambda: len(self._control.in_flight),
            interval=heartbeat_interval,
        )
        self.rejected = 0
        """Poison dispatch messages terminated so far (unparseable or of an unknown version)."""

    @property
    def malformed_control(self) -> int:
        """Control messages dropped as malformed so far."""
        return self._control.malformed

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then drain (see the class) and return."""
        subscriptions: list[JetStreamContext.PullSubscription] = []
        handlers: set[asyncio.Task[None]] = set()
        beating: asyncio.Task[None] | None = None
        try:
            await self._control.start()
            for queue in self._queues:
                subscriptions.append(await self._subscribe(queue))
            beating = asyncio.create_task(self._heartbeats.run())
            await self._pull(subscriptions, handlers, stop)
            await self._heartbeats.change("draining")
            await self._drain(handlers)
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            await self._heartbeats.change("stopped")
        finally:
            # Only non-empty when run() itself is cancelled, or reporting hung past its bound.
            for task in (*handlers, *([beating] if beating else [])):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._control.close()
            for subscription in subscriptions:
                with contextlib.suppress(nats.errors.Error):
                    await subscription.unsubscribe()

    async def _pull(
        self,
        subscriptions: list[JetStreamContext.PullSubscription],
        handlers: set[asyncio.Task[None]],
        stop: asyncio.Event,
    ) -> None:
        while not stop.is_set():
            for subscription in subscriptions:
                if len(handlers) >= self._concurrency:
                    await _room_or_stop(handlers, stop)
                free = self._concurrency - len(handlers)
                if stop.is_set() or free < 1:
                    break
                for msg in await self._fetch(subscription, free):
                    if stop.is_set():
                        await _hand_back(msg, "fetched while stopping")
                        continue
                    handler = asyncio.create_task(self._handle(msg))
                    handlers.add(handler)
                    handler.add_done_callback(handlers.discard)

    async def _drain(self, handlers: set[asyncio.Task[None]]) -> None:
        if not handlers:
            return
        _logger.info("draining %d attempts (up to %g s)", len(handlers), self._drain_grace)
        _, pending = await asyncio.wait(handlers, timeout=self._drain_grace)
        if not pending:
            return
        self._control.hand_back_all()
        await asyncio.wait(pending, timeout=_REPORTING_SECONDS)

    async def _subscribe(self, queue: str) -> JetStreamContext.PullSubscription:
        durable = await declare_dispatch_consumer(self._js, self._subjects, queue, self._ack_wait)
        return await self._js.pull_subscribe_bind(
            consumer=durable, stream=self._subjects.dispatch_stream
        )

    async def _fetch(self, subscription: JetStreamContext.PullSubscription, free: int) -> list[Msg]:
        try:
            return await subscription.fetch(batch=free, timeout=_FETCH_SECONDS)
        except TimeoutError:
            return []  # nothing to do (nats.errors.TimeoutError is a TimeoutError)
        except nats.errors.Error:
            _logger.warning("fetching dispatch messages failed; retrying", exc_info=True)
            await asyncio.sleep(_FETCH_ERROR_PAUSE_SECONDS)
            return []

    async def _handle(self, msg: Msg) -> None:
        try:
            with self._control.tracking(msg) as flight:
                await self._process(flight)
        except Exception:
            # One broken attempt must not stop the others; its dispatch will be redelivered.
            _logger.exception("dispatch message (stream seq %s) failed in the worker", _seq(msg))

    async def _process(self, flight: InFlight) -> None:
        msg = flight.msg
        try:
            command = ExecuteTask.model_validate_json(msg.data)
        except ValidationError as error:
            self.rejected += 1
            reason = _rejection_reason(msg.data, error)
            _logger.error(
                "terminating poison dispatch message (stream seq %s): %s", _seq(msg), reason
            )
            await msg.term()
            return
        flight.command = command
        if command.spec.executor not in self._executors:
            # Another worker on this queue may run it; after max_deliver it is parked and its
            # attempt fails as undeliverable, so a queue without a capable worker is visible.
            await _hand_back(
                msg, f"this worker does not run {command.spec.executor} tasks", HAND_BACK_DELAY
            )
            return
        await self._attempt(flight, command)

    async def _attempt(self, flight: InFlight, command: ExecuteTask) -> None:
        msg = flight.msg
        delivery = msg.metadata.num_delivered
        if delivery > 1:
            _logger.info("delivery %d of %s (a redelivery)", delivery, command.message_id)
        keepalive = asyncio.create_task(_keep_alive(msg, self._ack_wait / _KEEPALIVES_PER_ACK_WAIT))
        try:
            if await self._control.run_cancelled(command.run_id):
                await self._finish(
                    msg, command, delivery, Execution.failure(CANCELLED_BEFORE_START)
                )
                return
            execution = await self._execute(flight, command, delivery)
            if execution is None:
                await _hand_back(msg, f"{command.message_id} is still running at the drain's end")
                return
            ran = flight.execution is not None
            await self._finish(
                msg, command, delivery, execution, includes_start=ran and not flight.start_reported
            )
        finally:
            keepalive.cancel()

    async def _execute(
        self, flight: InFlight, command: ExecuteTask, delivery: int
    ) -> Execution | None:
        """The attempt's execution; "cancelled" if a cancel stopped it, None if handed back.

        Its `started` report goes out before it runs, or once it has run `start_report_delay`
        seconds; if that report cannot be stored, the outcome (which records the start too)
        still can.
        """
        if self._start_report_delay == 0:
            flight.start_reported = await self._publish_report(command, delivery, None)
        if not (flight.cancelled or flight.handed_back):
            flight.execution = asyncio.create_task(
                execute(command, self._base_env, worker=self._name, grace=self._kill_grace)
            )
            try:
                if self._start_report_delay > 0:
                    await asyncio.wait({flight.execution}, timeout=self._start_report_delay)
                    if not flight.execution.done():
                        flight.start_reported = await self._publish_report(command, delivery, None)
                await asyncio.wait({flight.execution})
            finally:
                flight.execution.cancel()  # a no-op once done; kills the attempt otherwise
            if not flight.execution.cancelled():
                return flight.execution.result()
        return None if flight.handed_back else Execution.failure(CANCELLED)

    async def _finish(
        self,
        msg: Msg,
        command: ExecuteTask,
        delivery: int,
        execution: Execution,
        *,
        includes_start: bool = False,
    ) -> None:
        if await self._publish_report(command, delivery, execution, includes_start=includes_start):
            crash_point("worker.after_result")  # the result is stored, the dispatch not acked
            await _confirm_ack(msg, command)

    async def _publish_report(
        self,
        command: ExecuteTask,
        delivery: int,
        execution: Execution | None,
        *,
        includes_start: bool = False,
    ) -> bool:
        """Publish `started` (no execution yet) or the outcome; True once JetStream stored it."""
        report = _task_reported(command, delivery, self.identity, execution, includes_start)
        subject = self._subjects.results(partition_for(command.run_id))
        payload = report.model_dump_json().encode()
        for attempt in range(_PUBLISH_ATTEMPTS):
            try:
                # The same Nats-Msg-Id on every try: JetStream keeps one copy if an earlier try
                # was stored but its PubAck was lost.
                await self._js.publish(
                    subject,
                    payload,
                    timeout=_PUBLISH_SECONDS,
                    headers={"Nats-Msg-Id": report.message_id},
                )
            except nats.errors.Error as error:
                _logger.warning("publishing %s failed (%r)", report.message_id, error)
                await asyncio.sleep(min(0.1 * 2**attempt, _PUBLISH_BACKOFF_CAP_SECONDS))
            else:
                return True
        _logger.error("giving up on %s; the dispatch stays unacked", report.message_id)
        return False


def _task_reported(
    command: ExecuteTask,
    delivery: int,
    worker: WorkerIdentity,
    execution: Execution | None,
    includes_start: bool,
) -> TaskReported:
    return TaskReported(
        tenant=command.tenant,
        run_id=command.run_id,
        task=command.task,
        attempt=command.attempt,
        delivery=delivery,
        worker=worker.name,
        instance=worker.instance,
        outcome="started" if execution is None else execution.outcome,
        at=datetime.now(UTC),
        exit_code=None if execution is None else execution.exit_code,
        error=None if execution is None else execution.error,
        stdout_tail="" if execution is None else execution.stdout_tail,
        stderr_tail="" if execution is None else execution.stderr_tail,
        output=None if execution is None else execution.output,
        includes_start=includes_start,
    )


async def _room_or_stop(handlers: set[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Wait until an attempt ends or the worker is told to stop, whichever comes first."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({*handlers, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()


async def _keep_alive(msg: Msg, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await msg.in_progress()
        except nats.errors.Error as error:
            _logger.warning("in-progress ack failed (%r); the dispatch may be redelivered", error)


async def _hand_back(msg: Msg, reason: str, delay: float | None = None) -> None:
    """Nak a dispatch so JetStream redelivers it, to this worker's peers or a later start."""
    _logger.info("handing back a dispatch (stream seq %s): %s", _seq(msg), reason)
    try:
        await msg.nak(delay=delay)
    except nats.errors.Error as error:
        _logger.warning("nak failed (%r); the dispatch returns after ack_wait", error)


async def _confirm_ack(msg: Msg, command: ExecuteTask) -> None:
    try:
        await msg.ack_sync(timeout=_ACK_SECONDS)
    except nats.errors.Error as error:
        # The result is stored; a redelivery runs the attempt again and the engine fences it.
        _logger.warning("ack of %s unconfirmed (%r)", command.message_id, error)


def _rejection_reason(data: bytes, error: ValidationError) -> str:
    # RecursionError: JSON nested too deep for the stdlib decoder (pydantic refused it first).
    with contextlib.suppress(ValueError, RecursionError):
        document = json.loads(data)
        if isinstance(document, dict) and document.get("schema_version", 1) != 1:
            return f"unknown schema_version {document['schema_version']!r}"
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "message"
    return f"invalid ExecuteTask ({error.error_count()} errors), {location}: {first['msg']}"


def _seq(msg: Msg) -> int | None:
    try:
        return msg.metadata.sequence.stream
    except nats.errors.Error:
        return None
