"""Numeric fields that take JSON numbers only: never `true`, `"60"` or `2.5` for an integer.

Pydantic's lax mode (which web frameworks call explicitly) would coerce those silently.
"""

from typing import Any

from pydantic import BeforeValidator


def _number_only(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = "must be a number"
        raise ValueError(msg)
    return value


def _integer_only(value: Any) -> Any:
    # JSON has one number type: `3.0` is the integer 3 (as JSON Schema's `integer` says).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        msg = "must be an integer"
        raise ValueError(msg)
    return value


NumberOnly = BeforeValidator(_number_only)
IntegerOnly = BeforeValidator(_integer_only)
