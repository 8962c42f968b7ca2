"""The dispatcher: follows the event log and publishes one dispatch command per queued task."""

import asyncio
import logging
import time
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from nats.js import JetStreamContext

from aggregates.run import Run
from aggregates.spec import TaskSpec
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from engine.crash_points import crash_point
from projections.follower import STANDBY_POLL_SECONDS, AdvisoryLock
from streams.log_follower import TrackedLogFollower
from streams.messages import ExecuteTask
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

DISPATCHER_NAME = "dispatcher"
PUBLISH_TIMEOUT_SECONDS = 5.0
RUN_REUSE_SECONDS = 1.0
"""How long a loaded run, at or past a queued event's version, serves that run's next commands."""


class Dispatcher:
    """Turns `TaskQueued` events into JetStream messages, tracking its position in PostgreSQL.

    The log is the outbox: after a crash the dispatcher re-reads from its tracked position, and
    JetStream de-duplicates the re-published messages by their id (`run:task:attempt`).
    Single-active behind an advisory lock (like the projections): other replicas' dispatchers
    stand by and take over from the tracked position when the active one's session ends.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        tracking: PostgresTrackingRecorder,
        js: JetStreamContext,
        subjects: Subjects,
        *,
        batch_size: int = 256,
        standby_poll_seconds: float = STANDBY_POLL_SECONDS,
    ) -> None:
        self._engine = engine
        self._js = js
        self._subjects = subjects
        self._follower = TrackedLogFollower(
            engine,
            tracking,
            name=DISPATCHER_NAME,
            topics=[get_topic(Run.TaskQueued)],
            convert=self._command,
            handle=self._publish_all,
            batch_size=batch_size,
            lock=AdvisoryLock(tracking.datastore, DISPATCHER_NAME),
            standby_poll_seconds=standby_poll_seconds,
        )
        self.published = 0
        """Dispatch commands this dispatcher published (JetStream keeps one of duplicates)."""
        self._run: Run | None = None
        """The run the last command came from: a fan-out queues many tasks of one run at once."""
        self._run_loaded_at = 0.0

    @property
    def position(self) -> int:
        return self._follower.position

    @property
    def active(self) -> bool:
        """Whether this replica holds the dispatcher's lock (the others stand by)."""
        return self._follower.active

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch (or stand by for another replica) until `stop` is set."""
        await self._follower.run(stop)

    async def _publish_all(self, commands: list[ExecuteTask]) -> None:
        crash_point("dispatcher.before_publish")
        # Same message ids on a retry, so JetStream de-duplicates what the failed try stored.
        await asyncio.gather(*(self._publish(command) for command in commands))
        crash_point("dispatcher.after_publish")  # stored, position not yet tracked
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
        run, now = self._run, time.monotonic()
        if (
            run is None
            or run.id != queued.originator_id
            or run.version < queued.originator_version
            or now - self._run_loaded_at > RUN_REUSE_SECONDS
        ):
            # Reloaded unless the run just loaded already includes this event, as a load would:
            # rebuilding a 20-task fan-out's run once per task cost O(tasks^2) event decodes.
            run = self._run = self._engine.load_run(queued.originator_id)
            self._run_loaded_at = now
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
