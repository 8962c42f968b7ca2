"""The shell executor: `/bin/sh -c command` with the spec's args, env and working directory."""

from pathlib import Path

from streams.executors.execution import (
    Attempt,
    Execution,
    scratch_dir,
    task_variables,
    with_output,
)
from streams.executors.process import run_process

ARGV0 = "ledgerflow-task"
"""`$0` of the command; the spec's `args` are `$1`, `$2`, ..."""


async def run_shell_task(attempt: Attempt) -> Execution:
    """Run the task's command; its output is the JSON object it writes to `$LEDGERFLOW_OUTPUT`.

    The spec's `env` (secrets resolved) is merged over the worker's environment, and the
    `LEDGERFLOW_*` task variables over both.
    """
    spec = attempt.command.spec
    if not spec.command:
        return Execution.failure("shell task without a command")
    env = {**attempt.env, **attempt.secrets.resolve_all(spec.env)}
    cwd = spec.working_dir
    if cwd is not None and not _is_dir(cwd):
        return Execution.failure(
            f"working directory {cwd} does not exist on worker {attempt.worker}"
        )
    with scratch_dir() as scratch:
        env |= task_variables(attempt.command, scratch)
        try:
            finished = await run_process(
                ["/bin/sh", "-c", spec.command, ARGV0, *spec.args],
                timeout=spec.timeout_seconds,
                env=env,
                cwd=cwd,
                grace=attempt.grace,
            )
        except OSError as error:
            # E.g. the working directory is not searchable by the worker's user.
            return Execution.failure(f"cannot start the command: {error}")
        execution = Execution.of_process(finished, spec.timeout_seconds)
        return with_output(execution, scratch / "output.json")


def _is_dir(path: str) -> bool:
    return Path(path).is_dir()  # one stat: not worth a thread
