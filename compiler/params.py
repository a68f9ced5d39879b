"""Flow parameters -> Python signature fields and the JSON parameter schema.

Both come from one place (`param_fields`): the compiled flow's signature uses these
annotations and defaults, and Prefect derives its parameter schema from that signature.
`parameter_schema` repeats Prefect's derivation with plain pydantic, so the reconciler gets
exactly the compiled flow's schema without importing Prefect or compiling anything
(tests compare both).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from pipeform.spec.models.flow import FlowDocument, Parameter

_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}
# Schema keys pydantic cannot derive from a type: passed through as json_schema_extra.
_EXTRA = ("title", "format")
REQUIRED = object()  # marker: the parameter has no default


@dataclass(frozen=True)
class ParamType:
    """A parameter's Python type, as data: the compiled signature builds the annotation
    (`annotation`), emit writes the same one as code."""

    enum: tuple[Any, ...] | None  # Literal[...]
    types: tuple[str, ...]  # JSON type names; more than one: a union
    item_type: str | None  # `items: {type: T}` on an array: list[T]
    limits: tuple[tuple[str, Any], ...]  # ge, le, pattern (Annotated[..., Field(...)])
    optional: bool  # not required and no default: None is allowed too


@dataclass(frozen=True)
class ParamField:
    name: str
    type: ParamType
    required: bool  # no default: a run must pass it
    default: Any
    description: str | None
    extra: dict[str, Any]  # schema keys pydantic cannot derive from a type (json_schema_extra)


def _typed_items(p: Parameter) -> bool:
    """`items: {type: T}` on an array becomes list[T]: validated, and the same schema."""
    return (
        not p.enum
        and p.type == "array"
        and bool(p.items)
        and set(p.items or ()) == {"type"}
        and isinstance((p.items or {})["type"], str)
        and (p.items or {})["type"] in _TYPES
    )


def param_type(p: Parameter) -> ParamType:
    limits = tuple((k, v) for k, v in (("ge", p.minimum), ("le", p.maximum), ("pattern", p.pattern)) if v is not None)
    return ParamType(
        enum=tuple(p.enum) if p.enum else None,
        types=tuple(p.type) if isinstance(p.type, list) else (p.type,),
        item_type=(p.items or {})["type"] if _typed_items(p) else None,
        limits=limits,
        optional=not p.required and p.default is None,
    )


def param_field(name: str, p: Parameter) -> ParamField:
    extra = {k: getattr(p, k) for k in _EXTRA if getattr(p, k) is not None}
    if p.items and not _typed_items(p):
        extra["items"] = p.items
    required = p.required and p.default is None
    return ParamField(name, param_type(p), required, p.default, p.description, extra)


def annotation(t: ParamType) -> Any:
    if t.enum:
        base: Any = Literal[t.enum]
    elif len(t.types) > 1:
        base = typing.Union[tuple(_TYPES[n] for n in t.types)]  # noqa: UP007 (built from data)
    elif t.item_type:
        base = types.GenericAlias(list, (_TYPES[t.item_type],))  # list[T]: the item type is validated
    else:
        base = _TYPES[t.types[0]]
    if t.limits:
        base = Annotated[base, Field(**dict(t.limits))]
    return base | None if t.optional else base


def param_fields(parameters: Mapping[str, Parameter]) -> dict[str, tuple[Any, Any]]:
    """name -> (annotation, default) where default is REQUIRED or a pydantic FieldInfo
    carrying the default, description and extra schema keys (title, format, items)."""
    fields: dict[str, tuple[Any, Any]] = {}
    for name, p in parameters.items():
        f = param_field(name, p)
        extra = f.extra or None
        if f.required:
            default: Any = REQUIRED
            if f.description or extra:  # still needs a FieldInfo to carry them
                default = Field(description=f.description, json_schema_extra=extra)
        else:
            default = Field(default=f.default, description=f.description, json_schema_extra=extra)
        fields[name] = (annotation(f.type), default)
    return fields


def field_default(value: Any) -> Any:
    """The plain default behind a FieldInfo (what the flow body receives without validation)."""
    return value.default if isinstance(value, FieldInfo) else value


def parameter_schema(flow_doc: FlowDocument) -> dict[str, Any]:
    """The parameter schema of a Flow document, as the compiled flow's
    `flow.parameters.model_dump(mode="json")` has it (Prefect's ParameterSchema)."""
    model_fields: dict[str, Any] = {}
    for position, (name, (annotation, default)) in enumerate(param_fields(flow_doc.spec.parameters).items()):
        # Prefect's process_v2_params: rename names that clash with BaseModel attributes,
        # keep the field's description and extras, force title=name and position.
        key = name + "__" if hasattr(BaseModel, name) else name
        given = default if isinstance(default, FieldInfo) else None
        extra = dict(given.json_schema_extra) if given and isinstance(given.json_schema_extra, dict) else {}
        extra.setdefault("position", position)
        value = ... if given is None or given.is_required() else given.default
        field = Field(
            default=value,
            title=name,
            description=given.description if given else None,
            alias=name if key != name else None,
            json_schema_extra=extra,
        )
        model_fields[key] = (annotation, field)
    model = create_model("Parameters", __config__=ConfigDict(arbitrary_types_allowed=True), **model_fields)
    schema = TypeAdapter(model).json_schema(by_alias=True, ref_template="#/definitions/{model}")
    return {
        "title": "Parameters",
        "type": "object",
        "properties": schema.get("properties", {}),
        "required": schema.get("required", []),
        "definitions": schema.get("$defs", {}),
    }
