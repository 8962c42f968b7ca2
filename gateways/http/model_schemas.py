"""How pydantic models appear in the OpenAPI document, where Litestar 2 describes them wrongly.

- A model that refuses unknown fields (`extra="forbid"`, every request body) says so with
  `additionalProperties: false`; Litestar leaves it out, so clients (and schema-driven
  fuzzers) were told that extra fields are fine, then got a 422 for them.
- A JSON object with a bounded number of entries (`Annotated[dict[K, V], Field(max_length=n)]`,
  a task's `env`) is an object with `maxProperties`; Litestar documents any constrained
  collection as an array. (It still copies the bound as `maxLength`, which JSON Schema
  ignores for objects.)
- The items of a list, and the keys and values of an object, keep their pydantic constraints
  (`depends_on` items are identifiers, `expected_status` items are 100-599); Litestar drops
  constraints that are not on the field itself.
- A model's strings and numbers keep their constraints: Litestar drops a `Field(pattern=...)`
  (a secret's name) and any constraint of a type it puts in a `oneOf` with `null` (a task's
  `command` has at least 1 character, its `url` a pattern).
"""

from collections.abc import Iterator, Sequence
from typing import Annotated, Any, get_args, get_origin

import annotated_types as at
from litestar._openapi.schema_generation import SchemaCreator
from litestar.openapi.spec import OpenAPIType, Reference, Schema
from litestar.params import KwargDefinition
from litestar.plugins import OpenAPISchemaPlugin
from litestar.plugins.pydantic import PydanticSchemaPlugin
from litestar.typing import FieldDefinition
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo

_SCALARS = {str: OpenAPIType.STRING, int: OpenAPIType.INTEGER, float: OpenAPIType.NUMBER}
_CONSTRAINTS = (
    "minimum",
    "exclusive_minimum",
    "maximum",
    "exclusive_maximum",
    "min_length",
    "max_length",
    "pattern",
)


class ClosedModelSchemas(PydanticSchemaPlugin):
    """Pydantic models as Litestar renders them, plus `additionalProperties: false` where the
    model forbids extra fields, and the constraints of its optional strings and numbers."""

    @classmethod
    def for_pydantic_model(
        cls, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().for_pydantic_model(field_definition, schema_creator)
        model = field_definition.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return schema
        if model.model_config.get("extra") == "forbid":
            schema.additional_properties = False
        for name, field in model.model_fields.items():
            rendered = (schema.properties or {}).get(field.alias or name)
            if isinstance(rendered, Schema):
                _restore_constraints(rendered, field)
        return schema


def _restore_constraints(rendered: Schema, field: FieldInfo) -> None:
    """Put back the string and number constraints Litestar dropped from a model's field: on
    the field itself (a `Field(pattern=...)`) or on its type beside null in a `oneOf`."""
    if rendered.one_of:
        rendered.one_of = [_constrained_member(member, field) for member in rendered.one_of]
        return
    constrained = _constrained_scalar(field.annotation, field.metadata)
    if constrained is not None and constrained.type == rendered.type:
        for constraint in _CONSTRAINTS:
            if getattr(rendered, constraint) is None:
                setattr(rendered, constraint, getattr(constrained, constraint))


def _constrained_member(member: Schema | Reference, field: FieldInfo) -> Schema | Reference:
    scalars = [arg for arg in get_args(field.annotation) if _scalar_schema(arg) is not None]
    if len(scalars) != 1 or not isinstance(member, Schema):
        return member
    constrained = _scalar_schema(scalars[0])
    return constrained if constrained is not None and constrained.type == member.type else member


class CollectionSchemas(OpenAPISchemaPlugin):
    """Lists and objects whose size or whose items, keys or values are constrained."""

    @staticmethod
    def is_plugin_supported_type(value: object) -> bool:
        return False  # constraints live on fields: see `is_plugin_supported_field`

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        inner = [inner.raw for inner in field_definition.inner_types]
        constrained_items = any(_scalar_schema(item) for item in inner)
        if field_definition.is_mapping:
            return constrained_items or _bounds(field_definition) is not None
        return field_definition.is_non_string_sequence and len(inner) == 1 and constrained_items

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        low, high = _bounds(field_definition) or (None, None)
        if not field_definition.is_mapping:
            (item,) = field_definition.inner_types
            items = _scalar_schema(item.raw) or schema_creator.for_field_definition(item)
            return Schema(type=OpenAPIType.ARRAY, items=items, min_items=low, max_items=high)
        schema = Schema(type=OpenAPIType.OBJECT, min_properties=low, max_properties=high)
        if len(field_definition.inner_types) == 2:  # keys and values
            key, value = field_definition.inner_types
            schema.property_names = _scalar_schema(key.raw)
            schema.additional_properties = _member(value, schema_creator)
        return schema


def _member(field: FieldDefinition, schema_creator: SchemaCreator) -> Schema | Reference:
    return _scalar_schema(field.raw) or schema_creator.for_field_definition(field)


def _bounds(field_definition: FieldDefinition) -> tuple[int | None, int | None] | None:
    """The field's own (min, max) length, if it has either."""
    kwargs = field_definition.kwarg_definition
    if not isinstance(kwargs, KwargDefinition):
        return None
    low, high = kwargs.min_length or kwargs.min_items, kwargs.max_length or kwargs.max_items
    return None if low is None and high is None else (low, high)


def _scalar_schema(annotation: Any) -> Schema | None:
    """The schema of `Annotated[str | int | float, <pydantic constraints>]`, else None."""
    if get_origin(annotation) is not Annotated:
        return None
    base, *metadata = get_args(annotation)
    return _constrained_scalar(base, metadata)


def _constrained_scalar(base: Any, metadata: Sequence[Any]) -> Schema | None:
    """The schema of a string or number `base` under pydantic `metadata`, if that constrains it."""
    kind = _SCALARS.get(base)
    if kind is None:
        return None
    schema = Schema(type=kind)
    for constraint in _constraints(metadata):
        _constrain(schema, constraint)
    return None if schema == Schema(type=kind) else schema


def _constraints(metadata: Sequence[Any]) -> Iterator[Any]:
    for item in metadata:
        if isinstance(item, FieldInfo):
            yield from item.metadata
        elif isinstance(item, StringConstraints):
            yield at.MinLen(item.min_length) if item.min_length is not None else None
            yield at.MaxLen(item.max_length) if item.max_length is not None else None
            yield item
        else:
            yield item


def _constrain(schema: Schema, constraint: Any) -> None:
    match constraint:
        case at.Ge(ge=int() | float() as value):
            schema.minimum = value
        case at.Gt(gt=int() | float() as value):
            schema.exclusive_minimum = value
        case at.Le(le=int() | float() as value):
            schema.maximum = value
        case at.Lt(lt=int() | float() as value):
            schema.exclusive_maximum = value
        case at.MinLen(min_length=value):
            schema.min_length = value
        case at.MaxLen(max_length=value):
            schema.max_length = value
    pattern = getattr(constraint, "pattern", None)
    if isinstance(pattern, str):
        schema.pattern = pattern
