"""The stateless worker: pulls dispatch commands, runs them, reports results, then acks."""

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from aggregates.names import is_identifier
from streams.executors import Execution, execute
from streams.messages import MAX_TAIL_BYTES, ExecuteTask, TaskReported
from streams.subjects import Subjects, partition_for
from streams.topology import DISPATCH_ACK_WAIT_SECONDS, declare_dispatch_consumer

_logger = logging.getLogger(__name__)

_FETCH_SECONDS = 1.0
_PUBLISH_SECONDS = 2.0
_PUBLISH_ATTEMPTS = 6
_PUBLISH_BACKOFF_CAP_SECONDS = 2.0
_ACK_SECONDS = 2.0
_FETCH_ERROR_PAUSE_SECONDS = 1.0
# Well inside ack_wait, so a slow task's dispatch is never redelivered to a second worker.
_KEEPALIVE_SECONDS = DISPATCH_ACK_WAIT_SECONDS / 3


class Worker:
    """Runs up to `concurrency` task attempts at a time from the dispatch queues it serves."""

    def __init__(
        self,
        nc: Client,
        subjects: Subjects,
        *,
        name: str,
        queues: Sequence[str] = ("default",),
        concurrency: int = 4,
        base_env: Mapping[str, str],
    ) -> None:
        if not is_identifier(name):
            msg = f"invalid worker name {name!r}: use 1-64 of [A-Za-z0-9_-]"
            raise ValueError(msg)
        if concurrency < 1:
            msg = f"concurrency must be at least 1, not {concurrency}"
            raise ValueError(msg)
        self._js = nc.jetstream()
        self._subjects = subjects
        self._name = name
        self._queues = tuple(queues)
        self._concurrency = concurrency
        self._base_env = dict(base_env)
        self.rejected = 0
        """Poison dispatch messages terminated so far (unparseable or of an unknown version)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then let in-flight attempts finish (and ack) and return."""
        subscriptions: list[JetStreamContext.PullSubscription] = []
        in_flight: set[asyncio.Task[None]] = set()
        try:
            for queue in self._queues:
                subscriptions.append(await self._subscribe(queue))
            while not stop.is_set():
                for subscription in subscriptions:
                    if len(in_flight) >= self._concurrency:
                        await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    free = self._concurrency - len(in_flight)
                    if stop.is_set() or free < 1:
                        break
                    for msg in await self._fetch(subscription, free):
                        task = asyncio.create_task(self._handle(msg))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
            if in_flight:
                await asyncio.wait(in_flight)
        finally:
            # Only non-empty when run() itself is cancelled: the attempts stop, unacked.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            for subscription in subscriptions:
                with contextlib.suppress(nats.errors.Error):
                    await subscription.unsubscribe()

    async def _subscribe(self, queue: str) -> JetStreamContext.PullSubscription:
        durable = await declare_dispatch_consumer(self._js, self._subjects, queue)
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
            await self._process(msg)
        except Exception:
            # One broken attempt must not stop the others; its dispatch will be redelivered.
            _logger.exception("dispatch message (stream seq %s) failed in the worker", _seq(msg))

    async def _process(self, msg: Msg) -> None:
        try:
            command = ExecuteTask.model_validate_json(msg.data)
        except ValidationError as error:
            await self._reject(msg, _rejection_reason(msg.data, error))
            return
        await self._attempt(msg, command)

    async def _reject(self, msg: Msg, reason: str) -> None:
        self.rejected += 1
        _logger.error("terminating poison dispatch message (stream seq %s): %s", _seq(msg), reason)
        await msg.term()

    async def _attempt(self, msg: Msg, command: ExecuteTask) -> None:
        delivery = msg.metadata.num_delivered
        if delivery > 1:
            _logger.info("delivery %d of %s (a redelivery)", delivery, command.message_id)
        keepalive = asyncio.create_task(_keep_alive(msg))
        try:
            if not await self._publish_report(command, delivery, None):
                return
            execution = await self._execute(command)
            if not await self._publish_report(command, delivery, execution):
                return
            await _confirm_ack(msg, command)
        finally:
            keepalive.cancel()

    async def _execute(self, command: ExecuteTask) -> Execution:
        try:
            return await execute(command, self._base_env)
        except Exception as error:
            # E.g. the process could not be spawned: the attempt failed, and says why.
            _logger.exception("executor error for %s", command.message_id)
            return Execution("failed", None, "", "", f"executor error: {error!r}"[:MAX_TAIL_BYTES])

    async def _publish_report(
        self, command: ExecuteTask, delivery: int, execution: Execution | None
    ) -> bool:
        """Publish `started` (no execution yet) or the outcome; True once JetStream stored it."""
        report = _task_reported(command, delivery, self._name, execution)
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
    command: ExecuteTask, delivery: int, worker: str, execution: Execution | None
) -> TaskReported:
    return TaskReported(
        tenant=command.tenant,
        run_id=command.run_id,
        task=command.task,
        attempt=command.attempt,
        delivery=delivery,
        worker=worker,
        outcome="started" if execution is None else execution.outcome,
        at=datetime.now(UTC),
        exit_code=None if execution is None else execution.exit_code,
        error=None if execution is None else execution.error,
        stdout_tail="" if execution is None else execution.stdout_tail,
        stderr_tail="" if execution is None else execution.stderr_tail,
    )


async def _keep_alive(msg: Msg) -> None:
    while True:
        await asyncio.sleep(_KEEPALIVE_SECONDS)
        try:
            await msg.in_progress()
        except nats.errors.Error as error:
            _logger.warning("in-progress ack failed (%r); the dispatch may be redelivered", error)


async def _confirm_ack(msg: Msg, command: ExecuteTask) -> None:
    try:
        await msg.ack_sync(timeout=_ACK_SECONDS)
    except nats.errors.Error as error:
        # The result is stored; a redelivery runs the attempt again and the engine fences it.
        _logger.warning("ack of %s unconfirmed (%r)", command.message_id, error)


def _rejection_reason(data: bytes, error: ValidationError) -> str:
    with contextlib.suppress(ValueError):
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
