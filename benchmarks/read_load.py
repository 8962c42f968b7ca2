"""Concurrent readers of the API for a fixed time: requests per second and latency percentiles.

Each client is one asyncio task with its own keep-alive HTTP/1.1 connection, cycling through
the reads it is given. Only requests that start and end inside the measured window count; the
warm-up before it does not. The client speaks just enough HTTP/1.1 (GET, `Content-Length`
bodies) to cost little CPU per request: httpx's async pool spent ~5 ms of CPU per request at
50 connections, more than the API itself, on a machine whose 2 cores it shares with the API
and PostgreSQL.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from benchmarks.stats import percentile

HTTP_TIMEOUT_S = 30.0
HTTP_OK = 200
MS_PER_S = 1000.0

Read = Callable[[int], str]
"""The path of a client's `n`-th request of one kind."""


@dataclass
class Samples:
    """Latencies (ms) of one kind of request, and how many failed."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0


@dataclass(frozen=True)
class LoadResult:
    """What the readers saw in the measured window."""

    seconds: float
    clients: int
    samples: dict[str, Samples]

    def figures(self) -> dict[str, float]:
        every = [ms for kind in self.samples.values() for ms in kind.latencies_ms]
        figures = {
            "req_per_s": len(every) / self.seconds,
            "p50_ms": _pct(every, 50),
            "p99_ms": _pct(every, 99),
        }
        for name, kind in self.samples.items():
            figures[f"{name}_req_per_s"] = len(kind.latencies_ms) / self.seconds
            figures[f"{name}_p50_ms"] = _pct(kind.latencies_ms, 50)
            figures[f"{name}_p99_ms"] = _pct(kind.latencies_ms, 99)
        return figures

    @property
    def failures(self) -> int:
        return sum(kind.failures for kind in self.samples.values())


def drive(
    base_url: str, reads: dict[str, Read], *, clients: int, seconds: float, warm_up_s: float
) -> LoadResult:
    """`clients` readers, each cycling through `reads`, for `warm_up_s` + `seconds`."""
    return asyncio.run(_drive(base_url, reads, clients, seconds, warm_up_s))


async def _drive(
    base_url: str, reads: dict[str, Read], clients: int, seconds: float, warm_up_s: float
) -> LoadResult:
    address = urlsplit(base_url)
    samples = {name: Samples() for name in reads}
    start = time.perf_counter() + warm_up_s
    end = start + seconds
    connections = [
        await _Connection.open(address.hostname or "127.0.0.1", address.port or 80)
        for _ in range(clients)
    ]
    try:
        await asyncio.gather(
            *(
                _reader(conn, reads=reads, samples=samples, offset=offset, start=start, end=end)
                for offset, conn in enumerate(connections)
            )
        )
    finally:
        for conn in connections:
            conn.close()
    return LoadResult(seconds=seconds, clients=clients, samples=samples)


async def _reader(
    conn: "_Connection",
    *,
    reads: dict[str, Read],
    samples: dict[str, Samples],
    offset: int,
    start: float,
    end: float,
) -> None:
    kinds = list(reads)
    n = offset
    while (began := time.perf_counter()) < end:
        kind = kinds[n % len(kinds)]
        try:
            ok = await asyncio.wait_for(conn.get(reads[kind](n)), HTTP_TIMEOUT_S) == HTTP_OK
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            ok = False
            conn = await conn.reopen()
        finished = time.perf_counter()
        if began >= start and finished <= end:
            if ok:
                samples[kind].latencies_ms.append((finished - began) * MS_PER_S)
            else:
                samples[kind].failures += 1
        n += 1


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads `Content-Length` bodies."""

    def __init__(
        self, host: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.host, self.port = host, port
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "_Connection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(host, port, reader, writer)

    async def reopen(self) -> "_Connection":
        self.close()
        return await self.open(self.host, self.port)

    async def get(self, path: str) -> int:
        """The status of `GET path`, its body read (and dropped)."""
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *headers = head.decode("latin-1").split("\r\n")
        length = 0
        for header in headers:
            name, _, value = header.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split(" ", 2)[1])

    def close(self) -> None:
        self.writer.close()


def _pct(samples: list[float], pct: float) -> float:
    return percentile(samples, pct) if samples else float("nan")
