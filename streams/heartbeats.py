"""A worker's heartbeats on `heartbeats.<worker>`: core NATS signs of life, never events."""

import asyncio
import importlib.metadata
import logging
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import nats.errors
from nats.aio.client import Client

from streams.messages import WorkerHeartbeat

_logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_SECONDS = 5.0
_FLUSH_SECONDS = 2  # nats-py takes whole seconds here

State = Literal["running", "draining", "stopped"]


@dataclass(frozen=True)
class WorkerIdentity:
    """Who is beating: the worker's name, this process start (`instance`), version and host."""

    name: str
    instance: str
    queues: tuple[str, ...]
    capacity: int
    version: str
    host: str

    @classmethod
    def of_this_process(cls, name: str, queues: Sequence[str], capacity: int) -> "WorkerIdentity":
        """A fresh `instance` id per call, so a restarted worker is told apart from its past."""
        return cls(
            name=name,
            instance=uuid.uuid4().hex[:16],
            queues=tuple(queues),
            capacity=capacity,
            version=_package_version()[:64],
            host=socket.gethostname()[:255],
        )


class Heartbeats:
    """Publishes the worker's state every `interval` seconds, and at once when it changes."""

    def __init__(
        self,
        nc: Client,
        subject: str,
        identity: WorkerIdentity,
        *,
        in_flight: Callable[[], int],
        interval: float = DEFAULT_HEARTBEAT_SECONDS,
    ) -> None:
        if interval <= 0:
            msg = f"heartbeat interval must be positive, not {interval}"
            raise ValueError(msg)
        self._nc = nc
        self._subject = subject
        self._identity = identity
        self._in_flight = in_flight
        self._interval = interval
        self._state: State = "running"

    async def run(self) -> None:
        """Beat until cancelled (a draining worker keeps beating, so it is not declared lost)."""
        while True:
            await self.beat()
            await asyncio.sleep(self._interval)

    async def change(self, state: State) -> None:
        """Enter `state` and say so at once; "stopped" is also flushed, as it is the last."""
        self._state = state
        await self.beat()
        if state == "stopped":
            try:
                await self._nc.flush(timeout=_FLUSH_SECONDS)
            except (nats.errors.Error, TimeoutError) as error:
                _logger.warning("the stopped heartbeat may be lost (%r)", error)

    async def beat(self) -> None:
        identity = self._identity
        heartbeat = WorkerHeartbeat(
            name=identity.name,
            instance=identity.instance,
            queues=list(identity.queues),
            capacity=identity.capacity,
            in_flight=self._in_flight(),
            version=identity.version,
            host=identity.host,
            state=self._state,
            at=datetime.now(UTC),
        )
        try:
            await self._nc.publish(self._subject, heartbeat.model_dump_json().encode())
        except nats.errors.Error as error:
            # Missing beats are what liveness detection is for; the worker carries on.
            _logger.warning("publishing a heartbeat failed (%r)", error)


def _package_version() -> str:
    try:
        return importlib.metadata.version("ledgerflow")
    except importlib.metadata.PackageNotFoundError:
        return "0"
