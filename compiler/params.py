"""Flow parameters -> JSON Schema, exactly as Prefect builds it for the compiled flow's
signature. Pure, so the reconciler can send it to the server without compiling."""

from __future__ import annotations

from typing import Any

_KEYS = ("description", "enum", "items", "format", "minimum", "maximum", "pattern")


def param_schema(p: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type} if not isinstance(p.type, list) else {"type": list(p.type)}
    schema["title"] = p.title or None
    for key in _KEYS:
        value = getattr(p, key)
        if value is not None:
            schema[key] = value
    if p.default is not None:
        schema["default"] = p.default
    return {k: v for k, v in schema.items() if v is not None}


def parameter_schema(flow_doc: Any) -> dict[str, Any]:
    """The parameter schema of a Flow document (Prefect's ParameterSchema shape)."""
    params = flow_doc.spec.parameters
    properties = {}
    for position, (name, p) in enumerate(params.items()):
        prop = param_schema(p)
        prop.setdefault("title", name)
        prop["position"] = position
        properties[name] = prop
    required = [n for n, p in params.items() if p.required and p.default is None]
    schema: dict[str, Any] = {"title": "Parameters", "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["definitions"] = {}
    return schema
