"""The executors by name, and `execute`: one attempt run by the executor its spec names."""

import logging
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from streams.executors.execution import Attempt, Execution, Executor
from streams.executors.http import run_http_task
from streams.executors.process import DEFAULT_GRACE_SECONDS
from streams.executors.python import run_python_task
from streams.executors.secrets import (
    MissingSecretError,
    SecretResolver,
    public_env,
    scrub_json,
    scrub_text,
)
from streams.executors.shell import run_shell_task
from streams.messages import MAX_TAIL_BYTES, ExecuteTask

_logger = logging.getLogger(__name__)


async def run_noop(attempt: Attempt) -> Execution:
    """Succeed at once, in process: for tests, benchmarks and pure fan-in tasks."""
    return Execution("succeeded", 0, "", "", None)


EXECUTORS: Mapping[str, Executor] = MappingProxyType(
    {
        "noop": run_noop,
        "shell": run_shell_task,
        "python": run_python_task,
        "http": run_http_task,
    }
)


async def execute(
    command: ExecuteTask,
    env: Mapping[str, str],
    *,
    worker: str,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> Execution:
    """Run the attempt to its end; what it reports is scrubbed of every secret it was given.

    `env` is the worker's environment, secrets (`LEDGERFLOW_SECRET_*`) included. Never raises
    but for cancellation, which stops the attempt (its processes are killed).
    """
    secrets = SecretResolver(env, worker)
    attempt = Attempt(command, public_env(env), secrets, worker, grace)
    executor = EXECUTORS.get(command.spec.executor)
    if executor is None:
        execution = Execution.failure(f"worker {worker} has no {command.spec.executor} executor")
    else:
        try:
            execution = await executor(attempt)
        except MissingSecretError as error:
            execution = Execution.failure(str(error))
        except Exception as error:
            # E.g. a process could not be spawned: the attempt failed, and says why.
            reason = scrub_text(f"executor error: {error!r}", secrets.handed_out)
            _logger.error("%s: %s", command.message_id, reason)
            execution = Execution.failure(reason)
    return _scrubbed(execution, secrets.handed_out)


def _scrubbed(execution: Execution, secrets: frozenset[str]) -> Execution:
    if not secrets:
        return execution
    return replace(
        execution,
        stdout_tail=scrub_text(execution.stdout_tail, secrets)[-MAX_TAIL_BYTES:],
        stderr_tail=scrub_text(execution.stderr_tail, secrets)[-MAX_TAIL_BYTES:],
        error=None
        if execution.error is None
        else scrub_text(execution.error, secrets)[:MAX_TAIL_BYTES],
        output=None if execution.output is None else scrub_json(execution.output, secrets),
    )
