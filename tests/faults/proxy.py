"""A TCP proxy on its own thread and event loop that delays, drops or resets traffic on demand.

Placed between two components (a worker and NATS, an engine and PostgreSQL), it forwards
bytes both ways; `set` switches what happens to them while connections stay open, so a fault
can start and heal in the middle of a conversation, as on a real network.
"""

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

_CHUNK = 64 * 1024
T = TypeVar("T")


class Direction(StrEnum):
    """Which way bytes flow: `up` from the client to the server, `down` back."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Link:
    """What the proxy does to the bytes it forwards (the default: pass them unchanged)."""

    delay: float = 0.0
    """Seconds each chunk waits before it is forwarded (order is kept)."""
    jitter: float = 0.0
    """Up to this many extra seconds, drawn per chunk."""
    dropped: frozenset[Direction] = frozenset()
    """Directions whose bytes are silently dropped, connections kept open (a blackhole)."""

    @classmethod
    def blackhole(cls) -> "Link":
        return cls(dropped=frozenset(Direction))

    @classmethod
    def one_way(cls, passing: Direction) -> "Link":
        """Only `passing` bytes get through: an asymmetric partition."""
        return cls(dropped=frozenset(Direction) - {passing})


PASS = Link()


class Proxy:
    """Listens on a free loopback port and forwards every connection to `upstream`."""

    def __init__(self, name: str, upstream: tuple[str, int], seed: int = 0) -> None:
        self.name = name
        self.upstream = upstream
        self.port = 0
        """The port it listens on, once started (the kernel's choice: no race for it)."""
        self.link = PASS
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.connections = 0

    def start(self) -> "Proxy":
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def set(self, link: Link) -> None:
        """Apply `link` from the next chunk on, to open and new connections alike."""
        self.link = link  # one attribute assignment: atomic for the forwarding thread

    def reset(self) -> int:
        """Abort every open connection with a TCP RST; returns how many there were."""
        return self._call(self._reset())

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset()

    async def _reset(self) -> int:
        writers = list(self._open)
        for writer in writers:
            _abort(writer)
        return len(writers)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer)  # the server is down: the client sees a refused-like reset
            return
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, Direction.UP),
                self._pump(up_reader, writer, Direction.DOWN),
            )
        finally:
            self._open -= {writer, up_writer}

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: Direction
    ) -> None:
        """Forward one direction until either side closes; the other side is closed with it."""
        try:
            while chunk := await reader.read(_CHUNK):
                link = self.link
                if link.delay or link.jitter:
                    await asyncio.sleep(link.delay + self._random.uniform(0, link.jitter))
                if direction in self.link.dropped:
                    continue
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: linger on, timeout zero."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
