"""Guards on request bodies: JSON media type, nesting bounded before decoding, strict JSON."""

import json
import math
import re
from itertools import accumulate
from typing import Any

from litestar import Request

DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_MAX_JSON_DEPTH = 64
MAX_INTEGER_DIGITS = 4300  # Python's own limit on converting digits to an int

# A JSON string, or an unterminated one up to the end: the optional closing quote means the
# pattern never fails after an opening quote, so scanning stays linear on hostile input.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class UnsupportedBodyTypeError(Exception):
    """A request body came with a media type other than JSON."""

    def __init__(self, media_type: str) -> None:
        super().__init__(f"the body must be application/json, not {media_type or 'untyped'}")
        self.media_type = media_type


class MalformedJSONError(Exception):
    """A request body is not valid JSON (or not UTF-8, or has a non-finite number)."""


class JSONTooDeepError(Exception):
    """A request body nests arrays and objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body nests arrays and objects more than {limit} levels deep")
        self.limit = limit


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw`, brackets inside strings ignored; C-speed."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def decode_json_body(raw: bytes, *, max_depth: int) -> Any:
    """The decoded body, refused before decoding if it nests deeper than `max_depth`.

    The standard library decoder lets lone surrogates through to the models' validators (a
    422 naming the field) where msgspec would call them truncated input.
    """
    if json_depth(raw) > max_depth:
        raise JSONTooDeepError(max_depth)
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            object_pairs_hook=_object_without_duplicate_keys,
        )
    except (ValueError, RecursionError) as error:
        raise MalformedJSONError(f"the body is not valid JSON: {error}") from None


def guarded_request_class(max_json_depth: int) -> type[Request[Any, Any, Any]]:
    """A Request class whose JSON body is type-checked and depth-checked before decoding."""

    class GuardedRequest(Request[Any, Any, Any]):
        async def json(self) -> Any:
            media_type, options = self.content_type
            if not _is_json(media_type, options):
                raise UnsupportedBodyTypeError(media_type)
            return decode_json_body(await self.body(), max_depth=max_json_depth)

    return GuardedRequest


def _is_json(media_type: str, options: dict[str, str]) -> bool:
    charset = options.get("charset", "utf-8").lower()
    is_json = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    return is_json and charset in ("utf-8", "utf8")


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        msg = "a number is out of range"
        raise ValueError(msg)
    return number


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        msg = f"an integer has more than {MAX_INTEGER_DIGITS} digits"
        raise ValueError(msg)
    return int(text)


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        msg = "an object has a duplicate key"
        raise ValueError(msg)
    return obj
