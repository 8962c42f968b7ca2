"""The result recorder: applies workers' reports to runs and acks them only after the commit."""

import asyncio
import logging
from collections import Counter
from contextlib import aclosing

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from aggregates.run import Recorded, TaskReport
from engine.application import Ledgerflow
from engine.crash_points import crash_point
from streams.dead_letters import park_unreadable
from streams.messages import TaskReported
from streams.pull_batches import pulled_batches
from streams.subjects import Subjects

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 1.0
MAX_RETRY_DELAY_SECONDS = 30.0


class ResultRecorder:
    """Consumes one results partition in batches: one transaction per batch, then the acks."""

    def __init__(
        self,
        engine: Ledgerflow,
        js: JetStreamContext,
        subjects: Subjects,
        *,
        partition: int = 0,
        batch_size: int = 256,
    ) -> None:
        self._engine = engine
        self._js = js
        self._subjects = subjects
        self._partition = partition
        self._batch_size = batch_size
        self.counts: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        """Record results until `stop` is set."""
        subscription = await self._js.pull_subscribe_bind(
            durable=self._subjects.results_consumer(self._partition),
            stream=self._subjects.results_stream,
        )
        batches = pulled_batches(subscription, self._batch_size, stop, "results")
        async with aclosing(batches):
            async for messages in batches:
                await self._record(messages)

    async def _record(self, messages: list[Msg]) -> None:
        accepted: list[tuple[Msg, TaskReport]] = []
        for message in messages:
            report = self._parse(message)
            if report is None:
                await park_unreadable(
                    self._js,
                    self._subjects,
                    message,
                    "malformed result",
                    retry_after=RETRY_DELAY_SECONDS,
                )
            else:
                accepted.append((message, report))
        if not accepted:
            return
        crash_point("recorder.before_commit")
        try:
            outcomes = await asyncio.to_thread(
                self._engine.record_reports, [report for _, report in accepted]
            )
        except Exception as error:  # PostgreSQL unavailable: let JetStream redeliver later
            logger.warning("recording %d result(s) failed: %s", len(accepted), error)
            for message, _ in accepted:
                await message.nak(delay=redelivery_delay(message.metadata.num_delivered))
            return
        crash_point("recorder.after_commit")  # committed, not yet acked: redelivered
        for (message, report), outcome in zip(accepted, outcomes, strict=True):
            self._count(report, outcome)
            await message.ack()

    def _parse(self, message: Msg) -> TaskReport | None:
        try:
            wire = TaskReported.model_validate_json(message.data)
        except ValidationError as error:
            self.counts["rejected"] += 1
            logger.warning("parked a malformed result message: %s", _first_error(error))
            return None
        return TaskReport(
            run_id=wire.run_id,
            tenant=wire.tenant,
            task=wire.task,
            attempt=wire.attempt,
            delivery=wire.delivery,
            worker=wire.worker,
            outcome=wire.outcome,
            exit_code=wire.exit_code,
            error=wire.error,
            stdout_tail=wire.stdout_tail,
            stderr_tail=wire.stderr_tail,
            output=wire.output,
            includes_start=wire.includes_start,
            instance=wire.instance,
        )

    def _count(self, report: TaskReport, outcome: Recorded | None) -> None:
        if outcome is None:
            self.counts["unknown_run"] += 1
            logger.warning("result for unknown run %s (tenant %s)", report.run_id, report.tenant)
        elif outcome is Recorded.FENCED:
            self.counts["fenced"] += 1
            logger.info(
                "fenced %s result of %s/%s attempt %d delivery %d",
                report.outcome,
                report.run_id,
                report.task,
                report.attempt,
                report.delivery,
            )
        else:
            self.counts["applied"] += 1


def redelivery_delay(deliveries: int) -> float:
    """Back off exponentially (1 s, 2 s, 4 s ... 30 s), so results outlast a database outage."""
    return float(min(RETRY_DELAY_SECONDS * 2 ** max(deliveries - 1, 0), MAX_RETRY_DELAY_SECONDS))


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
