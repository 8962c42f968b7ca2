"""Worker liveness: follows heartbeats, records changes of state, declares silent workers lost."""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import ValidationError

from aggregates.run import Recorded
from aggregates.worker import Heartbeat
from engine.application import Ledgerflow
from streams.messages import WorkerHeartbeat
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 1.0
FORGET_AFTER_TIMEOUTS = 20
"""A lost or deregistered process is forgotten after this many loss timeouts of silence."""

WorkerKey = tuple[str, str]
"""(name, instance): one worker process."""

RunningAttempt = tuple[UUID, str, int]
"""(run id, task, attempt) of an attempt running on a worker."""


@dataclass
class _Seen:
    """What the monitor knows of one worker process."""

    heard_at: float  # monotonic: measures silence
    last_seen: datetime  # the engine's clock: goes into `Worker.Lost`
    beat: WorkerHeartbeat | None = None  # None: only known from the registry so far
    recorded_state: str | None = None  # the state last recorded through the engine
    to_record: bool = False  # a change the engine has not recorded yet
    lost: bool = False
    silent_for: float = 0.0
    attempts_to_fail: bool = False  # declared lost; its running attempts not all failed yet
    lost_at_position: int = 0  # the log's head when declared lost: the read model must reach it

    @property
    def stopped(self) -> bool:
        return self.beat is not None and self.beat.state == "stopped"

    def settled(self, now: float, timeout: float) -> bool:
        """Deregistered or lost, with everything recorded, and silent for long."""
        finished = self.lost or (self.stopped and self.recorded_state == "stopped")
        return (
            finished
            and not self.to_record
            and not self.attempts_to_fail
            and now - self.heard_at > timeout * FORGET_AFTER_TIMEOUTS
        )


class LivenessMonitor:
    """Turns heartbeats (core NATS, not events) into `Worker` events and fails lost attempts.

    A heartbeat from an unknown process, or one whose state changed, or one from a process
    declared lost, is recorded (`Registered`, `Draining`, `Deregistered`, `Returned`); the
    others only refresh the in-memory last-seen time. Every `interval` seconds, processes silent
    for more than `interval * missed` seconds are declared lost and the attempts they started
    failed at once (`cause="worker_lost"`, retried if their policy says so), even when a new
    process of the same name already runs others. The processes `registered()` returns at
    start are watched too, so a restarted engine still notices workers that died while it was
    down. Workers are expected to beat every `interval`.
    """

    def __init__(
        self,
        engine: Ledgerflow,
        nc: NatsClient,
        subjects: Subjects,
        running_on: Callable[[str], Sequence[RunningAttempt]],
        registered: Callable[[], Sequence[WorkerKey]],
        *,
        read_model_position: Callable[[], int] | None = None,
        interval: float = 5.0,
        missed: int = 3,
    ) -> None:
        self._engine = engine
        self._nc = nc
        self._subjects = subjects
        self._running_on = running_on
        self._registered = registered
        # `running_on` reads a read model: it may not show attempts started just before the
        # worker went silent. Failing its attempts waits until it has caught up with the log.
        self._read_model_position = read_model_position
        self._interval = interval
        self._timeout = interval * missed
        self._seen: dict[WorkerKey, _Seen] = {}
        self._registry_loaded = False
        self._changed = asyncio.Event()
        self.counts: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        """Watch heartbeats until `stop` is set."""
        subscription = await self._nc.subscribe(
            self._subjects.heartbeats_wildcard, cb=self._on_heartbeat
        )
        recording = asyncio.create_task(self._record_changes(stop))
        try:
            while not stop.is_set():
                await self._sweep()
                await _sleep_unless(stop, self._interval)
        finally:
            recording.cancel()
            with suppress(asyncio.CancelledError):
                await recording
            with suppress(nats.errors.Error):
                await subscription.unsubscribe()

    # Heartbeats

    async def _on_heartbeat(self, message: Msg) -> None:
        beat = self._parse(message)
        if beat is None:
            return
        key = (beat.name, beat.instance)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = _Seen(time.monotonic(), self._engine.clock())
        changed = seen.beat is None or seen.lost or seen.recorded_state != beat.state
        seen.heard_at, seen.last_seen, seen.beat = time.monotonic(), self._engine.clock(), beat
        if changed:
            seen.to_record = True
            self._changed.set()

    def _parse(self, message: Msg) -> WorkerHeartbeat | None:
        self.counts["heartbeats"] += 1
        try:
            beat = WorkerHeartbeat.model_validate_json(message.data)
        except ValidationError as error:
            self.counts["malformed"] += 1
            first = error.errors()[0]
            logger.warning(
                "rejected a malformed heartbeat on %s, %s: %s",
                message.subject,
                ".".join(str(part) for part in first["loc"]) or "message",
                first["msg"],
            )
            return None
        if message.subject != self._subjects.heartbeats(beat.name):
            self.counts["mismatched"] += 1
            logger.warning("rejected a heartbeat of %s sent on %s", beat.name, message.subject)
            return None
        return beat

    async def _record_changes(self, stop: asyncio.Event) -> None:
        """Record what changed, one worker at a time, off the heartbeat callback."""
        while not stop.is_set():
            await self._changed.wait()
            self._changed.clear()
            failed = False
            for seen in list(self._seen.values()):
                if seen.to_record and seen.beat is not None:
                    failed |= not await self._record(seen, seen.beat)
            if failed:
                await _sleep_unless(stop, RETRY_DELAY_SECONDS)
                self._changed.set()

    async def _record(self, seen: _Seen, beat: WorkerHeartbeat) -> bool:
        seen.to_record = False
        try:
            await asyncio.to_thread(self._engine.record_heartbeat, _heartbeat(beat))
        except Exception as error:  # PostgreSQL unavailable: the next pass tries again
            seen.to_record = True
            logger.warning("recording the heartbeat of %s failed: %s", beat.name, error)
            return False
        if seen.lost:
            seen.lost = False
            self.counts["returned"] += 1
            logger.info("worker %s (%s) is back", beat.name, beat.instance)
        elif seen.recorded_state != beat.state:
            self.counts[f"recorded_{beat.state}"] += 1
        seen.recorded_state = beat.state
        return True

    # Silence

    async def _sweep(self) -> None:
        if not self._registry_loaded:
            await self._load_registry()
        now = time.monotonic()
        for key, seen in list(self._seen.items()):
            if seen.attempts_to_fail:
                await self._fail_attempts(key, seen)
            elif seen.settled(now, self._timeout):
                # Gone for good as far as we know (a fresh instance id per process start, so
                # these would pile up); should it speak again, it is new and recorded so.
                del self._seen[key]
            elif not seen.lost and not seen.stopped and now - seen.heard_at > self._timeout:
                await self._declare_lost(key, seen, now - seen.heard_at)

    async def _load_registry(self) -> None:
        try:
            registered = await asyncio.to_thread(self._registered)
        except Exception as error:  # PostgreSQL unavailable: the next sweep tries again
            logger.warning("listing registered workers failed: %s", error)
            return
        self._registry_loaded = True
        for key in registered:
            # Never heard from since this monitor started: lost unless it speaks in time.
            self._seen.setdefault(key, _Seen(time.monotonic(), self._engine.clock()))

    async def _declare_lost(self, key: WorkerKey, seen: _Seen, silent_for: float) -> None:
        name, instance = key
        heard_at = seen.heard_at
        try:
            declared = await asyncio.to_thread(
                self._engine.declare_worker_lost, name, instance, seen.last_seen
            )
        except Exception as error:  # PostgreSQL unavailable: the next sweep tries again
            logger.warning("declaring worker %s lost failed: %s", name, error)
            return
        seen.lost = True  # declared now, or already lost, deregistered or never registered
        if seen.heard_at != heard_at and seen.beat is not None:
            seen.to_record = True  # it spoke while we declared it lost: record its return
            self._changed.set()
        if not declared:
            return
        self.counts["lost"] += 1
        logger.warning("worker %s (%s) lost: no heartbeat for %.0f s", name, instance, silent_for)
        seen.silent_for = silent_for
        seen.attempts_to_fail = True
        await self._fail_attempts(key, seen)

    async def _fail_attempts(self, key: WorkerKey, seen: _Seen) -> None:
        # The read model lists attempts by worker name; the engine fails only those this
        # process started (ADR 25), so a process restarted under the same name keeps its own.
        name, instance = key
        error = f"worker {name} lost (no heartbeat for {seen.silent_for:.0f} s)"
        try:
            if not seen.lost_at_position:
                seen.lost_at_position = await asyncio.to_thread(self._log_head)
            if not await asyncio.to_thread(self._caught_up, seen.lost_at_position):
                return  # the next sweep tries again
            attempts = await asyncio.to_thread(self._running_on, name)
            for run_id, task, attempt in attempts:
                outcome = await asyncio.to_thread(
                    self._engine.abandon_attempt,
                    run_id,
                    task,
                    attempt,
                    cause="worker_lost",
                    error=error,
                    worker=name,
                    instance=instance,
                )
                self.counts["failed_attempts" if outcome is Recorded.APPLIED else "fenced"] += 1
        except Exception as failure:  # PostgreSQL unavailable: the next sweep tries again
            logger.warning("failing the attempts of lost worker %s failed: %s", name, failure)
            return
        seen.attempts_to_fail = False

    def _log_head(self) -> int:
        return self._engine.recorder.max_notification_id() or 0

    def _caught_up(self, position: int) -> bool:
        return self._read_model_position is None or self._read_model_position() >= position


def _heartbeat(beat: WorkerHeartbeat) -> Heartbeat:
    return Heartbeat(
        name=beat.name,
        instance=beat.instance,
        queues=tuple(beat.queues),
        capacity=beat.capacity,
        version=beat.version,
        host=beat.host,
        state=beat.state,
    )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
