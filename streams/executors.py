"""Runs one task attempt (shell command or no-op) within bounds of time and memory."""

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from streams.messages import MAX_TAIL_BYTES, ExecuteTask

_GROUP_POLL_SECONDS = 0.05
# Processes that left the task's process group (setsid, daemons) may still hold the pipes open;
# past this bound we stop reading rather than hang the worker.
_PIPE_DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class Execution:
    """What one attempt did: its outcome, exit code and the tails of its output."""

    outcome: Literal["succeeded", "failed", "timed_out"]
    exit_code: int | None
    stdout_tail: str
    stderr_tail: str
    error: str | None


async def execute(command: ExecuteTask, env: Mapping[str, str]) -> Execution:
    """Run the attempt with the executor it names; `env` is the worker's base environment."""
    if command.executor == "noop":
        return await run_noop()
    if not command.command:
        return Execution("failed", None, "", "", "shell task without a command")
    task_env = {
        **env,
        "LEDGERFLOW_RUN_ID": str(command.run_id),
        "LEDGERFLOW_TASK": command.task,
        "LEDGERFLOW_ATTEMPT": str(command.attempt),
        "LEDGERFLOW_INPUTS": json.dumps(command.inputs),
    }
    return await run_shell(command.command, timeout=command.timeout_seconds, env=task_env)


async def run_noop() -> Execution:
    """Succeed at once, in process: for tests, benchmarks and pure fan-in tasks."""
    return Execution("succeeded", 0, "", "", None)


async def run_shell(
    command: str,
    *,
    # Not a cancel scope (ASYNC109): the task's own deadline, after which its group is killed.
    timeout: float,  # noqa: ASYNC109
    env: Mapping[str, str],
    grace: float = 5.0,
) -> Execution:
    """Run `/bin/sh -c command` in its own process group; no process of it outlives the call."""
    with contextlib.ExitStack() as pipes:
        stdout = pipes.enter_context(contextlib.closing(await _Pipe.open()))
        stderr = pipes.enter_context(contextlib.closing(await _Pipe.open()))
        process = await _spawn(command, env, stdout, stderr)
        try:
            timed_out = await _wait_or_time_out(process, timeout)
            # The group is this attempt's: background children it left behind die with it.
            await _stop_group(process, grace)
            await _drain(stdout, stderr)
        except BaseException:
            _signal_group(process.pid, signal.SIGKILL)
            raise
    return _execution(
        process.returncode, timeout, timed_out, stdout.tail.text(), stderr.tail.text()
    )


async def _spawn(
    command: str, env: Mapping[str, str], stdout: "_Pipe", stderr: "_Pipe"
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout.write_fd,
            stderr=stderr.write_fd,
            env=dict(env),
            start_new_session=True,
        )
    finally:
        # The child has its own copies; the pipe reaches EOF once every process holding one ends.
        stdout.release_write_end()
        stderr.release_write_end()


def _execution(
    code: int | None, timeout: float, timed_out: bool, stdout: str, stderr: str
) -> Execution:
    if timed_out:
        return Execution("timed_out", code, stdout, stderr, f"timed out after {timeout:g} s")
    if code == 0:
        return Execution("succeeded", code, stdout, stderr, None)
    if code is not None and code < 0:
        name = _signal_name(-code)
        return Execution("failed", code, stdout, stderr, f"killed by signal {name}")
    return Execution("failed", code, stdout, stderr, f"exit code {code}")


async def _wait_or_time_out(process: asyncio.subprocess.Process, seconds: float) -> bool:
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        return True
    return False


async def _stop_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is still there after `grace` seconds."""
    if not _signal_group(process.pid, signal.SIGTERM):
        return  # the group is already empty
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        if process.returncode is not None and not _signal_group(process.pid, 0):
            return
        await asyncio.sleep(_GROUP_POLL_SECONDS)
    _signal_group(process.pid, signal.SIGKILL)
    # Reap the main process so its exit status is known; SIGKILL cannot be ignored.
    await process.wait()


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal the process group; False when it has no members left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


async def _drain(*pipes: "_Pipe") -> None:
    await asyncio.wait([pipe.tail.closed for pipe in pipes], timeout=_PIPE_DRAIN_SECONDS)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


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
        return _tail_text(bytes(self._buffer), truncated=self._truncated)


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


def _tail_text(data: bytes, *, truncated: bool) -> str:
    """Decode an output tail: at most MAX_TAIL_BYTES characters, no NUL (PostgreSQL refuses it)."""
    start = 0
    if truncated:
        # Skip the continuation bytes of a character cut in half by the truncation.
        while start < min(3, len(data)) and 0x80 <= data[start] <= 0xBF:
            start += 1
    text = data[start:].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return text[-MAX_TAIL_BYTES:]
