"""The outbound event stream across `kill -9` of the engine process that runs the event relay.

An independent consumer (nats-py and the `cloudevents` SDK only) reads the stream from sequence
1 after the engine was killed twice while it published, and finds exactly the log: same ids,
same order, nothing twice. Whatever the relay published but had not yet recorded as published
is published again on restart, and JetStream's de-duplication by message id drops the copies.
"""

import asyncio
import time

import nats
import pytest

from ops.system import build_engine
from streams.subjects import Subjects
from tests.e2e.rig import HANG, Deployment
from tests.integration.test_event_relay import the_log, the_stream

pytestmark = pytest.mark.e2e


def test_the_stream_holds_the_log_exactly_once_across_engine_kills(
    deployment: Deployment,
) -> None:
    deployment.start("w1")
    deployment.apply("relayed", [{"name": "a", "executor": "noop"}])
    runs: list[str] = []
    for _ in range(2):
        runs += [deployment.start_run("relayed") for _ in range(30)]
        time.sleep(0.3)  # the relay is publishing what the runs record
        deployment.kill("engine")
        runs += [deployment.start_run("relayed") for _ in range(10)]  # accepted while it is down
        deployment.spawn("engine", "engine")
    for run_id in runs:
        assert deployment.wait_until(run_id)["status"] == "succeeded"

    engine = build_engine(deployment.settings)
    subjects = Subjects(deployment.settings.nats_prefix)

    async def stream() -> list[tuple[str, str, str]]:
        client = await nats.connect(str(deployment.settings.nats_url))
        try:
            return await the_stream(client, subjects)
        finally:
            await client.close()

    # The relay catches up after the last restart; until then the stream is a prefix of the log.
    deadline = time.monotonic() + HANG
    while (published := asyncio.run(stream())) != (log := the_log(engine)):
        assert published == log[: len(published)], "the stream is not a prefix of the log"
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert published == log
    assert len({event_id for event_id, _, _ in published}) == len(published)
