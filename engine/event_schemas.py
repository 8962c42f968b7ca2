"""A JSON Schema per event type, generated from the event classes' annotations, for consumers."""

import typing
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, create_model

from engine.cloud_events import (
    DATA_CONTENT_TYPE,
    METADATA,
    SPEC_VERSION,
    cloud_event_type,
    event_version,
)
from engine.event_types import ALL_EVENTS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_EXTENSIONS: dict[str, Any] = {
    "tenant": {"type": "string"},
    "actor": {"type": "string"},
    "correlationid": {"type": "string"},
    "position": {"type": "integer", "minimum": 1},
    "aggregateversion": {"type": "integer", "minimum": 1},
    "run": {"type": "string", "format": "uuid"},
    "workflow": {"type": "string"},
    "traceparent": {
        "type": "string",
        "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
    },
    "dataref": {"type": "string", "format": "uri-reference"},
}
_REQUIRED = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "tenant",
    "position",
]


@dataclass(frozen=True)
class EventSchema:
    """One event type: its flat name, CloudEvents type, version and the schema of its message."""

    name: str
    type: str
    version: int
    schema: dict[str, Any]


def event_schemas() -> list[EventSchema]:
    """Every event type's schema, in the catalogue's order."""
    return [
        EventSchema(
            name=name,
            type=cloud_event_type(cls),
            version=event_version(cls),
            schema=_cloud_event_schema(name, cls),
        )
        for name, cls in ALL_EVENTS.items()
    ]


def data_schema(name: str, event_class: type[Any]) -> dict[str, Any]:
    """The JSON Schema of an event's `data`: its declared fields, metadata aside."""
    hints = typing.get_type_hints(event_class)
    fields: dict[str, Any] = {
        field: (hint, ...) for field, hint in hints.items() if field not in METADATA
    }
    model = create_model(name, __config__=ConfigDict(extra="allow"), **fields)
    schema = model.model_json_schema(mode="serialization")
    schema.pop("title", None)
    return schema


def _cloud_event_schema(name: str, event_class: type[Any]) -> dict[str, Any]:
    data = data_schema(name, event_class)
    definitions = data.pop("$defs", None)
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": name,
        "type": "object",
        "required": _REQUIRED,
        # `data` is left out (and `dataref` given) only when the message would be too large.
        "anyOf": [{"required": ["data"]}, {"required": ["dataref"]}],
        "properties": {
            "specversion": {"const": SPEC_VERSION},
            "id": {"type": "string", "pattern": "^ledgerflow-[1-9][0-9]*$"},
            "source": {"type": "string", "format": "uri-reference"},
            "type": {"const": cloud_event_type(event_class)},
            "subject": {"type": "string", "format": "uuid"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": DATA_CONTENT_TYPE},
            **_EXTENSIONS,
            "data": data,
        },
    }
    if definitions:
        schema["$defs"] = definitions
    return schema
