"""The ScheduleTick aggregate: one cron tick of one workflow, decided once (its id is the key)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from aggregates.names import schedule_tick_id
from aggregates.provenance import AttributedAggregate, Origin


class ScheduleTick(AttributedAggregate):
    """What became of one tick: fired, skipped, buffered (then released) or missed.

    Its id is derived from (tenant, workflow, UTC instant) — the eventsourcing index pattern —
    and it is saved in the transaction that starts the tick's run, so a second scheduler
    replica, a restart or a clock that jumps back collides on the id instead of firing twice.
    """

    class ScheduleFired(AttributedAggregate.Created, AttributedAggregate.Event):
        workflow: str
        scheduled_for: datetime
        workflow_version: int
        run_id: str
        trigger: str
        lateness_ms: int
        jitter_ms: int
        cancelled_run: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.outcome = "fired"
            aggregate.run_id = UUID(self.run_id)

    class ScheduleTickSkipped(AttributedAggregate.Created, AttributedAggregate.Event):
        workflow: str
        scheduled_for: datetime
        reason: str
        active_run: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.outcome = "skipped"

    class ScheduleTicksMissed(AttributedAggregate.Created, AttributedAggregate.Event):
        """Ticks from `scheduled_for` to `last` (`count` of them) were due while no
        scheduler ran, and `policy` did not fire them. Keyed by the first of them; recorded
        one tick per record (`count` 1) since ADR 11's amendment, older records hold ranges."""

        workflow: str
        scheduled_for: datetime
        last: datetime
        count: int
        policy: str

        def apply(self, aggregate: Any) -> None:
            aggregate.outcome = "missed"

    class ScheduleTickBuffered(AttributedAggregate.Created, AttributedAggregate.Event):
        workflow: str
        scheduled_for: datetime
        active_run: str

        def apply(self, aggregate: Any) -> None:
            aggregate.outcome = "buffered"
            aggregate.awaited_run = UUID(self.active_run)

    class ScheduleTickReleased(AttributedAggregate.Event):
        """A buffered tick fired, once the run it waited for had ended."""

        workflow: str
        scheduled_for: datetime
        workflow_version: int
        run_id: str
        lateness_ms: int

    def __init__(self, tenant: str, workflow: str, scheduled_for: datetime) -> None:
        self.tenant = tenant
        self.workflow = workflow
        self.scheduled_for = scheduled_for
        self.outcome = "pending"
        self.run_id: UUID | None = None
        self.awaited_run: UUID | None = None

    @classmethod
    def fired(
        cls,
        tenant: str,
        workflow: str,
        tick: datetime,
        *,
        workflow_version: int,
        run_id: UUID,
        backfill: bool,
        lateness_ms: int,
        jitter_ms: int,
        cancelled_run: UUID | None,
        origin: Origin,
    ) -> "ScheduleTick":
        """The tick fired: it started run `run_id` (and cancelled `cancelled_run`)."""
        return cls._decided(
            cls.ScheduleFired,
            tenant,
            workflow,
            tick,
            origin,
            backfill=backfill,
            workflow_version=workflow_version,
            run_id=str(run_id),
            trigger="backfill" if backfill else "schedule",
            lateness_ms=lateness_ms,
            jitter_ms=jitter_ms,
            cancelled_run=None if cancelled_run is None else str(cancelled_run),
        )

    @classmethod
    def skipped(
        cls, tenant: str, workflow: str, tick: datetime, reason: str, *,
        active_run: UUID | None, origin: Origin,
    ) -> "ScheduleTick":  # fmt: skip
        """The overlap policy skipped the tick: no run."""
        active = None if active_run is None else str(active_run)
        return cls._decided(
            cls.ScheduleTickSkipped, tenant, workflow, tick, origin, reason=reason,
            active_run=active,
        )  # fmt: skip

    @classmethod
    def missed(
        cls, tenant: str, workflow: str, ticks: list[datetime], policy: str, origin: Origin
    ) -> list["ScheduleTick"]:
        """Ticks due while no scheduler ran that the misfire policy does not fire: one record
        per tick, keyed by it, as a fired tick is. A range keyed by its first tick alone let
        two schedulers back from an outage, seeing the log a moment apart, decide the same
        ticks twice (one fired a tick inside the other's range, or their ranges began at
        different ticks; found by the fault rig). The scheduler decides at most 1,000 ticks
        of a schedule per pass, which bounds the records of one decision."""
        return [
            cls._decided(
                cls.ScheduleTicksMissed,
                tenant,
                workflow,
                tick,
                origin,
                last=tick,
                count=1,
                policy=policy,
            )
            for tick in ticks
        ]

    @classmethod
    def buffered(
        cls, tenant: str, workflow: str, tick: datetime, active_run: UUID, origin: Origin
    ) -> "ScheduleTick":
        """The tick waits for `active_run` to end (overlap `buffer_one`)."""
        return cls._decided(
            cls.ScheduleTickBuffered, tenant, workflow, tick, origin, active_run=str(active_run)
        )

    @classmethod
    def _decided(
        cls,
        event_class: type[AttributedAggregate.Created],
        tenant: str,
        workflow: str,
        tick: datetime,
        origin: Origin,
        *,
        backfill: bool = False,
        **fields: Any,
    ) -> "ScheduleTick":
        return cls._create(
            event_class,
            id=schedule_tick_id(tenant, workflow, tick, backfill=backfill),
            **origin.provenance(tenant),
            workflow=workflow,
            scheduled_for=tick,
            **fields,
        )

    @property
    def is_buffered(self) -> bool:
        return self.outcome == "buffered"

    def release(
        self, workflow_version: int, run_id: UUID, lateness_ms: int, origin: Origin
    ) -> bool:
        """Fire a buffered tick; a tick not (or no longer) buffered records nothing."""
        if not self.is_buffered:
            return False
        with self._acting(origin):
            self._released(self.workflow, self.scheduled_for, workflow_version, str(run_id),
                           lateness_ms)  # fmt: skip
        return True

    @event(ScheduleTickReleased)
    def _released(
        self, workflow: str, scheduled_for: datetime, workflow_version: int, run_id: str,
        lateness_ms: int,
    ) -> None:  # fmt: skip
        self.outcome = "fired"
        self.run_id = UUID(run_id)
