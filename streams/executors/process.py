"""Runs one child process in its own process group, with a deadline and bounded output tails."""

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams.messages import MAX_TAIL_BYTES

DEFAULT_GRACE_SECONDS = 5.0
"""How long a process group has between SIGTERM and SIGKILL once its time is up."""

_GROUP_POLL_SECONDS = 0.05
# Processes that left the task's process group (setsid, daemons) may still hold the pipes open;
# past this bound we stop reading rather than hang the worker.
_PIPE_DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class Finished:
    """How a child process ended: its exit status (negative: killed by that signal) and tails."""

    returncode: int | None
    timed_out: bool
    stdout_tail: str
    stderr_tail: str


async def run_process(
    argv: Sequence[str],
    *,
    # Not a cancel scope (ASYNC109): the process's own deadline, after which its group is killed.
    timeout: float,  # noqa: ASYNC109
    env: Mapping[str, str],
    cwd: str | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> Finished:
    """Run `argv` in a new session; no process of its group outlives the call, even if cancelled.

    Raises `OSError` when the process cannot be started (missing program or working directory).
    A cancelled call SIGKILLs the group at once: cancelling is how an attempt is stopped.
    """
    with contextlib.ExitStack() as pipes:
        stdout = pipes.enter_context(contextlib.closing(await _Pipe.open()))
        stderr = pipes.enter_context(contextlib.closing(await _Pipe.open()))
        process = await _spawn(argv, env, cwd, stdout, stderr)
        try:
            timed_out = await _wait_or_time_out(process, timeout)
            # The group is this attempt's: background children it left behind die with it.
            await _stop_group(process, grace)
            await _drain(stdout, stderr)
        except BaseException:
            signal_group(process.pid, signal.SIGKILL)
            raise
    return Finished(process.returncode, timed_out, stdout.tail.text(), stderr.tail.text())


def signal_group(pgid: int, signum: int) -> bool:
    """Signal the process group; False when it has no members left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


async def _spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: str | None, stdout: "_Pipe", stderr: "_Pipe"
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout.write_fd,
            stderr=stderr.write_fd,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        # The child has its own copies; the pipe reaches EOF once every process holding one ends.
        stdout.release_write_end()
        stderr.release_write_end()


async def _wait_or_time_out(process: asyncio.subprocess.Process, seconds: float) -> bool:
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        return True
    return False


async def _stop_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is still there after `grace` seconds."""
    if not signal_group(process.pid, signal.SIGTERM):
        return  # the group is already empty
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        if process.returncode is not None and not signal_group(process.pid, 0):
            return
        await asyncio.sleep(_GROUP_POLL_SECONDS)
    signal_group(process.pid, signal.SIGKILL)
    # Reap the main process so its exit status is known; SIGKILL cannot be ignored.
    await process.wait()


async def _drain(*pipes: "_Pipe") -> None:
    await asyncio.wait([pipe.tail.closed for pipe in pipes], timeout=_PIPE_DRAIN_SECONDS)


class _Tail(asyncio.Protocol):
    """Keeps the last MAX_TAIL_BYTES read from a pipe, however much flows through it."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._truncated = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_TAIL_BYTES:
            del self._buffer[:-MAX_TAIL_BYTES]
            self._truncated = True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def text(self) -> str:
        return tail_text(bytes(self._buffer), truncated=self._truncated)


class _Pipe:
    """An OS pipe whose write end goes to the child and whose read end feeds a _Tail."""

    def __init__(self, transport: asyncio.ReadTransport, tail: _Tail, write_fd: int) -> None:
        self._transport = transport
        self.tail = tail
        self.write_fd = write_fd

    @classmethod
    async def open(cls) -> "_Pipe":
        # Our own pipes rather than asyncio's PIPE: on Python 3.11 `Process.wait()` also waits
        # for asyncio's pipes to close, which a lingering grandchild can delay forever.
        read_fd, write_fd = os.pipe()
        reader = os.fdopen(read_fd, "rb", buffering=0)
        tail = _Tail()
        try:
            transport, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: tail, reader)
        except BaseException:
            reader.close()
            os.close(write_fd)
            raise
        return cls(transport, tail, write_fd)

    def release_write_end(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def close(self) -> None:
        self.release_write_end()
        self._transport.close()


def tail_text(data: bytes, *, truncated: bool) -> str:
    """Decode an output tail: at most MAX_TAIL_BYTES characters, no NUL (PostgreSQL refuses it)."""
    start = 0
    if truncated:
        # Skip the continuation bytes of a character cut in half by the truncation.
        while start < min(3, len(data)) and 0x80 <= data[start] <= 0xBF:
            start += 1
    text = data[start:].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return text[-MAX_TAIL_BYTES:]
