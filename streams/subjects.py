"""Every NATS subject, stream and consumer name Ledgerflow uses, built in one place."""

from dataclasses import dataclass
from uuid import UUID

from aggregates.names import is_identifier

DEFAULT_PREFIX = "ledgerflow"
RESULT_PARTITIONS = 1


def partition_for(run_id: UUID) -> int:
    """The results partition of a run, so one recorder sees all of a run's results in order."""
    return run_id.int % RESULT_PARTITIONS


@dataclass(frozen=True)
class Subjects:
    """Names under one prefix, so several deployments (or tests) can share a NATS server."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not is_identifier(self.prefix):
            msg = f"invalid NATS prefix {self.prefix!r}: use 1-64 of [A-Za-z0-9_-]"
            raise ValueError(msg)

    @property
    def _stream_stem(self) -> str:
        return self.prefix.upper().replace("-", "_")

    # Dispatch: one work-queue stream, one subject and one durable consumer per task queue.
    @property
    def dispatch_stream(self) -> str:
        return f"{self._stream_stem}_DISPATCH"

    @property
    def dispatch_wildcard(self) -> str:
        return f"{self.prefix}.dispatch.>"

    def dispatch(self, queue: str) -> str:
        return f"{self.prefix}.dispatch.{queue}"

    def dispatch_consumer(self, queue: str) -> str:
        return f"workers-{queue}"

    # Results: one work-queue stream, partitioned by run; one recorder consumer per partition.
    @property
    def results_stream(self) -> str:
        return f"{self._stream_stem}_RESULTS"

    @property
    def results_wildcard(self) -> str:
        return f"{self.prefix}.results.>"

    def results(self, partition: int) -> str:
        return f"{self.prefix}.results.{partition}"

    def results_consumer(self, partition: int) -> str:
        return f"recorder-{partition}"

    # Liveness and control: core NATS subjects, one per worker.
    def heartbeats(self, worker: str) -> str:
        return f"{self.prefix}.heartbeats.{worker}"

    @property
    def heartbeats_wildcard(self) -> str:
        return f"{self.prefix}.heartbeats.*"

    def control(self, worker: str) -> str:
        return f"{self.prefix}.control.{worker}"

    @property
    def cancelled_runs_bucket(self) -> str:
        """A JetStream key-value bucket of cancelled run ids, checked by workers before a start."""
        return f"{self._stream_stem}_CANCELLED_RUNS"

    # Events: every domain event as a CloudEvent, by tenant, aggregate and event (limits
    # retention: other systems read it from any position).
    @property
    def events_stream(self) -> str:
        return f"{self._stream_stem}_EVENTS"

    @property
    def events_wildcard(self) -> str:
        return f"{self.prefix}.events.>"

    def events(self, tenant: str, aggregate: str, event: str) -> str:
        """`ledgerflow.events.<tenant>.<aggregate>.<event>`, e.g. `...default.run.task_queued`."""
        return f"{self.prefix}.events.{tenant}.{aggregate}.{event}"

    # Triggers: inbound messages that start runs, under a namespace per tenant; the part after
    # the tenant is the subject name a workflow's trigger declares (`orders.created`).
    @property
    def triggers_stream(self) -> str:
        return f"{self._stream_stem}_TRIGGERS"

    @property
    def triggers_wildcard(self) -> str:
        return f"{self.prefix}.triggers.>"

    def triggers(self, tenant: str, name: str) -> str:
        """`ledgerflow.triggers.<tenant>.<name>`, e.g. `...triggers.default.orders.created`."""
        return f"{self.prefix}.triggers.{tenant}.{name}"

    def trigger_address(self, subject: str) -> tuple[str, str] | None:
        """(tenant, subject name) of a triggers subject; None if it is not one."""
        head = f"{self.prefix}.triggers."
        if not subject.startswith(head):
            return None
        tenant, _, name = subject.removeprefix(head).partition(".")
        return (tenant, name) if is_identifier(tenant) and name else None

    @property
    def triggers_consumer(self) -> str:
        return "triggers"

    # Dead letters: copies of messages that exhausted their deliveries.
    def parked(self, stream: str) -> str:
        return f"{self.prefix}.parked.{stream}"

    @property
    def parked_stream(self) -> str:
        return f"{self._stream_stem}_PARKED"
