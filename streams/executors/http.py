"""The http executor: one HTTP request, succeeding on an expected status code.

The request is the spec's `method`, `url`, `headers` (secrets resolved) and `body` (JSON for an
object or array, text for a string), bounded as a whole by the task's timeout. It succeeds when
the status is in `expected_status` (any 2xx when empty). The output is the response body when
it is a JSON object within MAX_OUTPUT_BYTES, else `{"status": <code>}`; the stdout tail is the
first MAX_TAIL_BYTES of the response text.
"""

import asyncio
from typing import Any

import httpx

from streams.executors.execution import Attempt, Execution, OutputError, parse_output
from streams.executors.process import tail_text
from streams.messages import MAX_OUTPUT_BYTES, MAX_TAIL_BYTES


async def run_http_task(attempt: Attempt) -> Execution:
    """Send the task's request and judge its response."""
    spec = attempt.command.spec
    if not spec.url:
        return Execution.failure("http task without a url")
    headers = attempt.secrets.resolve_all(spec.headers)
    timeout = spec.timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            status, body = await _request(spec.method, spec.url, headers, spec.body, timeout)
    except (TimeoutError, httpx.TimeoutException):
        return Execution("timed_out", None, "", "", f"timed out after {timeout:g} s")
    except httpx.HTTPError as error:
        return Execution.failure(f"HTTP request failed: {type(error).__name__}: {error}")
    expected = spec.expected_status
    succeeded = status in expected if expected else 200 <= status < 300
    text = tail_text(body[:MAX_TAIL_BYTES], truncated=False)[:MAX_TAIL_BYTES]
    if not succeeded:
        wanted = ", ".join(str(code) for code in expected) if expected else "2xx"
        return Execution("failed", None, text, "", f"HTTP {status} (expected {wanted})")
    return Execution("succeeded", None, text, "", None, _output(status, body))


async def _request(
    method: str, url: str, headers: dict[str, str], body: Any, seconds: float
) -> tuple[int, bytes]:
    """The status and the first MAX_OUTPUT_BYTES + 1 bytes of the body (enough to judge it)."""
    content = _content(body)
    async with (
        httpx.AsyncClient(timeout=seconds) as client,
        client.stream(method, url, headers=headers, **content) as response,
    ):
        received = bytearray()
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) > MAX_OUTPUT_BYTES:
                break
        return response.status_code, bytes(received[: MAX_OUTPUT_BYTES + 1])


def _content(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, str):
        return {"content": body.encode()}
    return {"json": body}


def _output(status: int, body: bytes) -> dict[str, Any]:
    if len(body) <= MAX_OUTPUT_BYTES and body.strip():
        try:
            return parse_output(body)
        except OutputError:
            pass
    return {"status": status}
