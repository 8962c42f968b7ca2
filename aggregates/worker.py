"""The Worker aggregate: one worker process's life, from registration to leaving or being lost."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID, uuid5

from eventsourcing.domain import event

from aggregates.names import SYSTEM_TENANT
from aggregates.provenance import AttributedAggregate, Origin

_NAMESPACE = UUID("0c5f3a52-8e0d-4b8e-a7b1-5d3f6f1e9c20")


@dataclass(frozen=True)
class Heartbeat:
    """What a worker says about itself every few seconds (not an event)."""

    name: str
    instance: str
    queues: tuple[str, ...]
    capacity: int
    version: str
    host: str
    state: Literal["running", "draining", "stopped"]


class WorkerStatus(StrEnum):
    REGISTERED = "registered"
    DRAINING = "draining"
    LOST = "lost"
    DEREGISTERED = "deregistered"


class Worker(AttributedAggregate):
    """A worker process, identified by its name and the instant it started.

    Heartbeats are not events; only changes of liveness are.
    """

    class Registered(AttributedAggregate.Created, AttributedAggregate.Event):
        name: str
        instance: str
        queues: list[str]
        capacity: int
        software_version: str
        host: str

    class Draining(AttributedAggregate.Event):
        pass

    class Lost(AttributedAggregate.Event):
        last_seen: datetime

    class Returned(AttributedAggregate.Event):
        pass

    class Deregistered(AttributedAggregate.Event):
        pass

    @staticmethod
    def id_for(name: str, instance: str) -> UUID:
        return uuid5(_NAMESPACE, f"{name}\x1f{instance}")

    @classmethod
    def register(
        cls,
        *,
        name: str,
        instance: str,
        queues: list[str],
        capacity: int,
        software_version: str,
        host: str,
        origin: Origin,
    ) -> "Worker":
        return cls._create(
            cls.Registered,
            id=cls.id_for(name, instance),
            **origin.provenance(SYSTEM_TENANT),
            name=name,
            instance=instance,
            queues=queues,
            capacity=capacity,
            software_version=software_version,
            host=host,
        )

    @event(Registered)
    def __init__(
        self,
        tenant: str,
        name: str,
        instance: str,
        queues: list[str],
        capacity: int,
        software_version: str,
        host: str,
    ) -> None:
        self.tenant = tenant
        self.name = name
        self.instance = instance
        self.queues = queues
        self.capacity = capacity
        self.software_version = software_version
        self.host = host
        self.status = WorkerStatus.REGISTERED

    def drain(self, origin: Origin) -> None:
        if self.status in (WorkerStatus.REGISTERED, WorkerStatus.LOST):
            with self._acting(origin):
                self._draining()

    def lose(self, last_seen: datetime, origin: Origin) -> bool:
        """Declare the worker lost; returns whether this changed anything."""
        if self.status in (WorkerStatus.LOST, WorkerStatus.DEREGISTERED):
            return False
        with self._acting(origin):
            self._lost(last_seen)
        return True

    def heard_from(self, origin: Origin) -> None:
        """A heartbeat arrived: a worker declared lost is back (its old attempts stay failed)."""
        if self.status is WorkerStatus.LOST:
            with self._acting(origin):
                self._returned()

    def deregister(self, origin: Origin) -> None:
        if self.status is not WorkerStatus.DEREGISTERED:
            with self._acting(origin):
                self._deregistered()

    @event(Draining)
    def _draining(self) -> None:
        self.status = WorkerStatus.DRAINING

    @event(Lost)
    def _lost(self, last_seen: datetime) -> None:
        self.status = WorkerStatus.LOST

    @event(Returned)
    def _returned(self) -> None:
        self.status = WorkerStatus.REGISTERED

    @event(Deregistered)
    def _deregistered(self) -> None:
        self.status = WorkerStatus.DEREGISTERED
