"""The cancel relay: follows the log and turns each cancelled run into signals for the workers."""

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from aggregates.run import Run
from aggregates.task_state import TaskStatus
from engine.application import Ledgerflow
from projections.follower import AdvisoryLock
from streams.log_follower import TrackedLogFollower
from streams.messages import CancelAttempt
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

NATS_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class _Cancellation:
    """A cancelled run and the attempts that were running on workers when it was cancelled."""

    run_id: UUID
    cancelled_at: datetime
    signals: tuple[tuple[str, CancelAttempt], ...]  # (worker, message)


class CancelRelay:
    """Turns `Run.Cancelled` events into what workers act on, tracking its position.

    For each cancelled run: its id goes into the cancelled-runs bucket (workers skip attempts
    of it they have not started), and every worker that was running one of its attempts gets a
    `CancelAttempt` on its control subject. Both are idempotent, so re-reading the log after a
    crash is safe. Single-active behind an advisory lock, like the dispatcher.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        tracking: PostgresTrackingRecorder,
        js: JetStreamContext,
        nc: NatsClient,
        subjects: Subjects,
        *,
        batch_size: int = 64,
    ) -> None:
        self._js = js
        self._nc = nc
        self._subjects = subjects
        self._follower = TrackedLogFollower(
            engine,
            tracking,
            name="cancel-relay",
            topics=[get_topic(Run.Cancelled)],
            convert=lambda notification: _cancellation(
                engine, engine.mapper.to_domain_event(notification)
            ),
            handle=self._relay,
            batch_size=batch_size,
            lock=AdvisoryLock(tracking.datastore, "cancel-relay"),
        )
        self.counts: Counter[str] = Counter()

    @property
    def position(self) -> int:
        return self._follower.position

    async def run(self, stop: asyncio.Event) -> None:
        """Relay cancellations until `stop` is set."""
        await self._follower.run(stop)

    async def _relay(self, cancellations: list[_Cancellation]) -> None:
        bucket = await self._js.key_value(self._subjects.cancelled_runs_bucket)
        for cancellation in cancellations:
            await bucket.put(
                str(cancellation.run_id), cancellation.cancelled_at.isoformat().encode()
            )
            for worker, signal in cancellation.signals:
                await self._nc.publish(
                    self._subjects.control(worker), signal.model_dump_json().encode()
                )
        # Core NATS buffers publishes: make sure the signals left before the position moves.
        await self._nc.flush(timeout=NATS_TIMEOUT_SECONDS)
        for cancellation in cancellations:
            self.counts["cancelled_runs"] += 1
            self.counts["cancel_signals"] += len(cancellation.signals)
            logger.info(
                "relayed the cancel of run %s (%d running attempt(s) signalled)",
                cancellation.run_id,
                len(cancellation.signals),
            )


def _cancellation(engine: Ledgerflow, cancelled: Any) -> _Cancellation | None:
    """What to relay for a `Run.Cancelled` event: the attempts running just before it."""
    run_id: UUID = cancelled.originator_id
    before: Run | None = _run_at(engine, run_id, cancelled.originator_version - 1)
    if before is None:
        return None
    signals = tuple(
        (state.worker, CancelAttempt(run_id=run_id, task=name, attempt=state.attempt))
        for name, state in before.tasks.items()
        if state.status is TaskStatus.RUNNING and state.worker is not None
    )
    return _Cancellation(run_id=run_id, cancelled_at=cancelled.timestamp, signals=signals)


def _run_at(engine: Ledgerflow, run_id: UUID, version: int) -> Run | None:
    try:
        run: Run = engine.repository.get(run_id, version=version)
    except AggregateNotFoundError:
        logger.warning("cancelled run %s has no version %d; nothing to signal", run_id, version)
        return None
    return run
