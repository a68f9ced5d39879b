"""Flow parameters -> Python signature fields and the JSON parameter schema.

Both come from one place (`param_fields`): the compiled flow's signature uses these
annotations and defaults, and Prefect derives its parameter schema from that signature.
`parameter_schema` repeats Prefect's derivation with plain pydantic, so the reconciler gets
exactly the compiled flow's schema without importing Prefect or compiling anything
(tests compare both).
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

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


def _typed_items(p: Any) -> bool:
    """`items: {type: T}` on an array becomes list[T]: validated, and the same schema."""
    return (
        not p.enum
        and p.type == "array"
        and bool(p.items)
        and set(p.items) == {"type"}
        and isinstance(p.items["type"], str)
        and p.items["type"] in _TYPES
    )


def _annotation(p: Any) -> Any:
    if p.enum:
        base: Any = Literal[tuple(p.enum)]
    elif isinstance(p.type, list):
        base = typing.Union[tuple(_TYPES[t] for t in p.type)]  # noqa: UP007 (built from data)
    elif _typed_items(p):
        base = list[_TYPES[p.items["type"]]]  # validated item type, schema {"items": {"type": ...}}
    else:
        base = _TYPES[p.type]
    limits = {k: v for k, v in (("ge", p.minimum), ("le", p.maximum), ("pattern", p.pattern)) if v is not None}
    if limits:
        base = Annotated[base, Field(**limits)]
    if not p.required and p.default is None:
        base = base | None  # optional without a default: None is allowed
    return base


def param_fields(parameters: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """name -> (annotation, default) where default is REQUIRED or a pydantic FieldInfo
    carrying the default, description and extra schema keys (title, format, items)."""
    fields: dict[str, tuple[Any, Any]] = {}
    for name, p in parameters.items():
        extra = {k: getattr(p, k) for k in _EXTRA if getattr(p, k) is not None}
        if p.items and not _typed_items(p):
            extra["items"] = p.items
        if p.required and p.default is None:
            default: Any = REQUIRED
            if p.description or extra:  # still needs a FieldInfo to carry them
                default = Field(description=p.description, json_schema_extra=extra or None)
        else:
            default = Field(default=p.default, description=p.description, json_schema_extra=extra or None)
        fields[name] = (_annotation(p), default)
    return fields


def field_default(value: Any) -> Any:
    """The plain default behind a FieldInfo (what the flow body receives without validation)."""
    return value.default if isinstance(value, FieldInfo) else value


def parameter_schema(flow_doc: Any) -> dict[str, Any]:
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
        value = ... if default is REQUIRED or (given is not None and given.is_required()) else given.default
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
