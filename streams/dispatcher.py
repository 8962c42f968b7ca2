"""The dispatcher: follows the event log and publishes one dispatch command per queued task."""

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from eventsourcing.persistence import Notification, Subscription, Tracking, TrackingRecorder
from eventsourcing.utils import get_topic
from nats.js import JetStreamContext

from aggregates.run import Run
from aggregates.spec import TaskSpec
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from streams.messages import ExecuteTask
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 5.0
RETRY_DELAY_SECONDS = 1.0


class Dispatcher:
    """Turns `TaskQueued` events into JetStream messages, tracking its position in PostgreSQL.

    The log is the outbox: after a crash the dispatcher re-reads from its tracked position, and
    JetStream de-duplicates the re-published messages by their id (`run:task:attempt`).
    """

    def __init__(
        self,
        engine: Ledgerflow,
        tracking: TrackingRecorder,
        js: JetStreamContext,
        subjects: Subjects,
        *,
        batch_size: int = 256,
    ) -> None:
        self._engine = engine
        self._tracking = tracking
        self._js = js
        self._subjects = subjects
        self._batch_size = batch_size
        self.published = 0

    @property
    def position(self) -> int:
        return self._tracking.max_tracking_id(self._engine.name) or 0

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until `stop` is set."""
        queue: asyncio.Queue[tuple[int, ExecuteTask | None]] = asyncio.Queue()
        start = await asyncio.to_thread(lambda: self.position)
        follower = _LogFollower(self._engine, start, queue, asyncio.get_running_loop())
        follower.start()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getting = asyncio.create_task(queue.get())
                await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    getting.cancel()
                    break
                batch = [getting.result()]
                while len(batch) < self._batch_size and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._publish_until_done(batch, stop)
        finally:
            stopping.cancel()
            follower.stop()
            await asyncio.to_thread(follower.join)

    async def _publish_until_done(
        self, batch: list[tuple[int, ExecuteTask | None]], stop: asyncio.Event
    ) -> None:
        commands = [command for _, command in batch if command is not None]
        while True:
            try:
                await asyncio.gather(*(self._publish(command) for command in commands))
                break
            except Exception as error:  # NATS down or slow: same ids, so a retry is safe
                logger.warning("dispatch of %d task(s) failed, retrying: %s", len(commands), error)
                if stop.is_set():
                    return
                await asyncio.sleep(RETRY_DELAY_SECONDS)
        self.published += len(commands)
        last = batch[-1][0]
        await asyncio.to_thread(self._tracking.insert_tracking, Tracking(self._engine.name, last))

    async def _publish(self, command: ExecuteTask) -> None:
        await self._js.publish(
            self._subjects.dispatch(command.queue),
            command.model_dump_json().encode(),
            timeout=PUBLISH_TIMEOUT_SECONDS,
            headers={"Nats-Msg-Id": command.message_id},
        )


class _LogFollower(threading.Thread):
    """Reads queued tasks from the log (LISTEN/NOTIFY wakes it) and hands them to the loop."""

    def __init__(
        self,
        engine: Ledgerflow,
        start: int,
        queue: "asyncio.Queue[tuple[int, ExecuteTask | None]]",
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(name="dispatcher-log-follower", daemon=True)
        self._engine = engine
        self._last = start
        self._queue = queue
        self._loop = loop
        self._stopped = threading.Event()
        self._subscription: Subscription[Any] | None = None

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                for notification in self._notifications():
                    item = (notification.id, self._command(notification))
                    self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
                    self._last = notification.id
            except Exception as error:  # PostgreSQL restarting: follow again from where we were
                logger.warning("dispatcher lost the log, following again: %s", error)
                self._stopped.wait(RETRY_DELAY_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
        if self._subscription is not None:
            with suppress(Exception):
                self._subscription.stop()

    def _notifications(self) -> Iterator[Notification]:
        self._subscription = self._engine.recorder.subscribe(
            gt=self._last, topics=[get_topic(Run.TaskQueued)]
        )
        if self._stopped.is_set():
            self._subscription.stop()
        with self._subscription as subscription:
            yield from subscription

    def _command(self, notification: Notification) -> ExecuteTask | None:
        queued: Any = self._engine.mapper.to_domain_event(notification)
        run = self._engine.load_run(queued.originator_id)
        return None if run is None else dispatch_command(run, queued.task, queued.attempt)


def dispatch_command(run: Run, task: str, attempt: int) -> ExecuteTask | None:
    """The dispatch command for a queued attempt, or None if it no longer needs running."""
    state = run.tasks[task]
    if run.status.is_terminal or state.status is not TaskStatus.QUEUED or state.attempt != attempt:
        # Already started, finished or superseded: re-reading the log after a restart
        # must not run an attempt again once the de-duplication window has passed.
        return None
    return ExecuteTask(
        tenant=run.tenant,
        run_id=run.id,
        workflow=run.workflow,
        task=task,
        attempt=attempt,
        spec=TaskSpec.model_validate(run.task_spec(task)),
        inputs=run.inputs,
        upstream=run.upstream_outputs(task),
    )
