"""Test-only crash points: `crash_point(name)` ends the process on the spot when asked to.

Fault-injection tests (tests/faults) name points in `LEDGERFLOW_CRASH_POINTS` (comma
separated) to kill a process inside a window too narrow to hit by timing a SIGKILL. The
variable is read once, on the first call; unset (production), a call is one set lookup.
The process exits with `os._exit(CRASH_EXIT_STATUS)`: no cleanup, no flush, no ack, as if
killed.

The points, each in the window between two effects that must survive a crash there:

- `dispatcher.before_publish`: the dispatcher read `TaskQueued` events, nothing published yet.
- `dispatcher.after_publish`: JetStream stored the dispatches; the dispatcher's tracking
  position is not yet committed, so a restart publishes them again (de-duplicated by id).
- `recorder.before_commit`: the result recorder parsed a batch of results, nothing recorded.
- `recorder.after_commit`: the results' events are committed; the result messages are not
  acked, so JetStream redelivers them and the Run must fence the copies.
- `worker.after_result`: a worker's outcome report is stored in JetStream; the dispatch is
  not acked, so it is redelivered and runs again (at-least-once execution).
"""

import functools
import os

CRASH_POINTS_VARIABLE = "LEDGERFLOW_CRASH_POINTS"
CRASH_EXIT_STATUS = 70
"""Exit status of a process ended by a crash point (so a test can tell it from a real crash)."""


def crash_point(name: str) -> None:
    """End the process now if `name` is one of the enabled crash points."""
    if name in _enabled():
        os._exit(CRASH_EXIT_STATUS)


@functools.cache
def _enabled() -> frozenset[str]:
    raw = os.environ.get(CRASH_POINTS_VARIABLE, "")
    return frozenset(point.strip() for point in raw.split(",") if point.strip())
