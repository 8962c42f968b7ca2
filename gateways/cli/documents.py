"""Documents the command line reads: a JSON or YAML object from a file or from stdin."""

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import yaml

STDIN = "-"
_YAML_SUFFIXES = (".yaml", ".yml")


class DocumentError(Exception):
    """A file named on the command line cannot be read, or does not hold a JSON object."""


def read_object(source: str) -> dict[str, Any]:
    """The JSON object (or YAML mapping, for `.yaml`/`.yml` or stdin) in `source`; `-` is stdin."""
    name = "stdin" if source == STDIN else source
    try:
        text = sys.stdin.read() if source == STDIN else Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise DocumentError(f"cannot read {name}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise DocumentError(f"cannot read {name}: it is not UTF-8 text") from None
    if source.endswith(_YAML_SUFFIXES):
        document = _yaml(text, name)
    else:
        document = _json(text, name, yaml_too=source == STDIN)
    if not isinstance(document, dict):
        raise DocumentError(f"{name} must hold an object (a mapping of names to values)")
    return document


def _json(text: str, name: str, *, yaml_too: bool) -> object:
    try:
        return json.loads(text)
    except ValueError as error:
        if yaml_too:
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError:
                pass
            else:
                if isinstance(document, dict):
                    return _as_json(document, name)
        raise DocumentError(f"{name} is not valid JSON: {error}") from None


def _yaml(text: str, name: str) -> object:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise DocumentError(f"{name} is not valid YAML: {detail}") from None
    return _as_json(document, name)


def _as_json(document: object, name: str) -> object:
    """The YAML document as JSON would give it: dates become ISO strings, keys strings."""
    try:
        return json.loads(json.dumps(document, allow_nan=False, default=_iso_date))
    except (TypeError, ValueError) as error:
        raise DocumentError(f"{name} holds a value JSON cannot carry ({error})") from None


def _iso_date(value: object) -> str:
    if isinstance(value, date):  # datetimes included
        return value.isoformat()
    msg = f"{type(value).__name__} is not JSON"
    raise TypeError(msg)
