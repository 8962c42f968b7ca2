"""The dispatcher: follows the event log and publishes one dispatch command per queued task."""

import asyncio
import logging
from typing import Any

from eventsourcing.persistence import Notification, TrackingRecorder
from eventsourcing.utils import get_topic
from nats.js import JetStreamContext

from aggregates.run import Run
from aggregates.spec import TaskSpec
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from streams.log_follower import TrackedLogFollower
from streams.messages import ExecuteTask
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 5.0


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
        self._js = js
        self._subjects = subjects
        self._follower = TrackedLogFollower(
            engine,
            tracking,
            name="dispatcher",
            topics=[get_topic(Run.TaskQueued)],
            convert=self._command,
            handle=self._publish_all,
            batch_size=batch_size,
        )
        self.published = 0

    @property
    def position(self) -> int:
        return self._follower.position

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until `stop` is set."""
        await self._follower.run(stop)

    async def _publish_all(self, commands: list[ExecuteTask]) -> None:
        # Same message ids on a retry, so JetStream de-duplicates what the failed try stored.
        await asyncio.gather(*(self._publish(command) for command in commands))
        self.published += len(commands)

    async def _publish(self, command: ExecuteTask) -> None:
        await self._js.publish(
            self._subjects.dispatch(command.queue),
            command.model_dump_json().encode(),
            timeout=PUBLISH_TIMEOUT_SECONDS,
            headers={"Nats-Msg-Id": command.message_id},
        )

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
