"""Writes the flow function's keyword-only signature: the parameter schema, with the
annotations and defaults params.py gives the in-memory flow (param_field / param_type)."""

from __future__ import annotations

from typing import Any

from ..params import ParamType, param_field
from .scope import Emitter
from .text import call, flat, literal, string

PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list"}
PY_TYPES |= {"object": "dict", "null": "None"}


def signature(e: Emitter) -> list[list[Any]]:
    items: list[list[Any]] = [["*"]]
    for p in e.ir.params:
        f = param_field(p.name, p.spec)
        kw = {"description": string(f.description)} if f.description else {}
        if f.extra:
            kw["json_schema_extra"] = literal(f.extra)
        item: list[Any] = [f"{p.name}: {annotation(e, f.type)}"]
        field_ = e.use("pydantic", "Field") if kw or isinstance(f.default, list | dict) else ""
        if f.required:
            if kw:
                item += [" = ", call(field_, **kw)]
        elif kw:
            item += [" = ", call(field_, literal(f.default), **kw)]
        elif isinstance(f.default, list | dict):  # ruff B006: no mutable literal defaults
            item += [" = ", call(field_, literal(f.default))]
        else:
            item += [" = ", literal(f.default)]
        items.append(item)
    return items


def annotation(e: Emitter, t: ParamType) -> str:
    """params.annotation, written out."""
    if t.enum:
        base = f"{e.use('typing', 'Literal')}[{', '.join(flat(literal(v)) for v in t.enum)}]"
    elif len(t.types) > 1:
        base = " | ".join(PY_TYPES[n] for n in t.types)
    elif t.item_type:
        base = f"list[{PY_TYPES[t.item_type]}]"
    else:
        base = PY_TYPES[t.types[0]]
    if t.limits:
        limits = {k: string(v) if k == "pattern" else str(v) for k, v in t.limits}
        base = f"{e.use('typing', 'Annotated')}[{base}, {flat(call(e.use('pydantic', 'Field'), **limits))}]"
    if t.optional and "None" not in base.split(" | "):
        base += " | None"
    return base
