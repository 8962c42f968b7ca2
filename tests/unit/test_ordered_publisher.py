"""The ordered publisher: pipelined sends, yet a lost message never lets a later one overtake it."""

import asyncio
from typing import cast

from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError

from streams.ordered_publisher import OrderedPublisher, Outbound

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST = "Nats-Expected-Last-Msg-Id"


class AStream:
    """JetStream as far as the publisher sees it: de-duplication by id, the expected-last-id
    check, and messages it can be told to lose on their first send (no acknowledgement)."""

    def __init__(self, lose: set[str] | None = None) -> None:
        self.stored: list[str] = []
        self._lose = set(lose or ())

    async def publish_async(
        self, subject: str, payload: bytes, headers: dict[str, str], wait_stall: float
    ) -> "asyncio.Future[PubAck]":
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        if headers[MSG_ID] in self._lose:
            self._lose.discard(headers[MSG_ID])
            return future  # lost: never acknowledged
        try:
            future.set_result(self._store(headers[MSG_ID], headers.get(EXPECTED_LAST)))
        except APIError as error:
            future.set_exception(error)
        return future

    async def publish(
        self,
        subject: str,
        payload: bytes,
        timeout: float,  # noqa: ASYNC109 (nats-py's signature)
        headers: dict[str, str],
    ) -> PubAck:
        return self._store(headers[MSG_ID], None)

    def _store(self, message_id: str, expected_last: str | None) -> PubAck:
        if message_id in self.stored:
            return PubAck(stream="S", seq=self.stored.index(message_id) + 1, duplicate=True)
        last = self.stored[-1] if self.stored else None
        if expected_last is not None and last != expected_last:
            raise APIError(code=400, err_code=10070, description="wrong last msg ID")
        self.stored.append(message_id)
        return PubAck(stream="S", seq=len(self.stored))


def messages(*ids: str) -> list[Outbound]:
    return [Outbound(subject="s", message_id=i, payload=b"{}") for i in ids]


def a_publisher(stream: AStream) -> OrderedPublisher:
    return OrderedPublisher(cast(JetStreamContext, stream), ack_timeout=0.05)


async def test_a_batch_is_stored_in_order_without_waiting_for_each_acknowledgement() -> None:
    stream = AStream()
    publisher = a_publisher(stream)

    await publisher.publish(messages("1", "2", "3"), after=None)

    assert stream.stored == ["1", "2", "3"]
    assert (publisher.stored, publisher.one_by_one) == (3, 0)


async def test_a_message_lost_in_the_pipeline_is_resent_before_the_ones_after_it() -> None:
    stream = AStream(lose={"2"})
    publisher = a_publisher(stream)

    await publisher.publish(messages("1", "2", "3", "4"), after=None)

    assert stream.stored == ["1", "2", "3", "4"]
    assert publisher.one_by_one == 3


async def test_publishing_a_batch_again_stores_nothing_twice() -> None:
    stream = AStream()
    publisher = a_publisher(stream)
    await publisher.publish(messages("1", "2"), after=None)

    await publisher.publish(messages("1", "2", "3"), after=None)

    assert stream.stored == ["1", "2", "3"]
    assert publisher.duplicates == 2


async def test_a_chain_broken_by_another_writer_is_taken_up_again() -> None:
    stream = AStream()
    publisher = a_publisher(stream)
    await publisher.publish(messages("1"), after=None)
    stream.stored.append("republished")

    await publisher.publish(messages("2", "3"), after="1")

    assert stream.stored == ["1", "republished", "2", "3"]
