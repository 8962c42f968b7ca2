"""W3C Trace Context `traceparent` values: the trace a command belongs to, carried by its events.

`00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>`. A request that arrives with a valid
`traceparent` joins its caller's trace; every other command starts a trace of its own, so each
event can be followed to the request (or component) that caused it.
"""

import re
import secrets

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16
_SAMPLED = "01"


def new_traceparent() -> str:
    """The traceparent of a new root trace (random ids, sampled)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{_SAMPLED}"


def valid_traceparent(offered: str | None) -> str | None:
    """`offered` as a version-00 traceparent if the W3C rules accept it, else None.

    A receiver that does not understand the offered version must still read the first four
    fields of a future version (and drop what follows); upper-case hex, version `ff`, all-zero
    ids and any trailing data on version `00` are invalid.
    """
    if offered is None or len(offered) > 512:
        return None
    match = _TRACEPARENT.fullmatch(offered)
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    if version == "00" and rest is not None:
        return None
    return f"00-{trace_id}-{parent_id}-{flags}"


def trace_id(traceparent: str) -> str:
    """The 32-hex trace id of a traceparent."""
    return traceparent[3:35]
