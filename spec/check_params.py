"""Parameters: a Flow's declared defaults, the values a Deployment or a schedule gives them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from .diagnostics import Diagnostic, Origin
from .diagnostics import did_you_mean as hint

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}
# The compiler relies on this: with such names excluded, and types from JSON_TYPES only,
# every compiled signature is one Prefect can validate (so it skips Flow()'s own check).
RESERVED_PARAM_PREFIXES = ("v__", "model_")


def matches_type(value: Any, declared: str | list[str]) -> bool:
    types = declared if isinstance(declared, list) else [declared]
    for t in types:
        if t in ("integer", "number") and isinstance(value, bool):
            continue
        if isinstance(value, JSON_TYPES[t]):
            return True
    return False


def check_declared(flow_name: str, params: dict[str, Any], locate: Callable[..., Origin]) -> Iterator[Diagnostic]:
    """A Flow's parameters: names Prefect can validate, defaults of their declared type."""
    for pname, p in params.items():
        if pname.startswith(RESERVED_PARAM_PREFIXES):
            yield Diagnostic(
                "param.reserved-name",
                f"parameter name {pname!r} is reserved: names starting with 'v__' or 'model_' clash with"
                " the pydantic model Prefect validates flow parameters with",
                locate("Flow", flow_name, ("spec", "parameters", pname), key=True),
            )
        yield from _check_default(
            pname, p, functools.partial(locate, "Flow", flow_name, ("spec", "parameters", pname, "default"))
        )


def _check_default(name: str, p: Any, where: Callable[[], Origin]) -> Iterator[Diagnostic]:
    if p.default is None:
        return
    if not matches_type(p.default, p.type):
        yield Diagnostic(
            "param.default-type", f"default of parameter {name!r} is {type(p.default).__name__}, not {p.type}", where()
        )
    if p.enum is not None and p.default not in p.enum:
        yield Diagnostic("param.default-type", f"default of parameter {name!r} is not one of {p.enum}", where())


def check_values(
    params: dict[str, Any], given: dict[str, Any], where: Callable[..., Origin], context: str
) -> Iterator[Diagnostic]:
    """Values given to a flow's parameters (`where(key, key=False)`): known names, declared types."""
    for key, value in given.items():
        if key not in params:
            yield Diagnostic(
                "param.unknown",
                f"{context} sets unknown parameter {key!r}",
                where(key, key=True),
                hint=hint(key, params),
            )
            continue
        p = params[key]
        if isinstance(value, str) and ("$[" in value):
            continue
        if not matches_type(value, p.type):
            yield Diagnostic(
                "param.type", f"parameter {key!r} expects {p.type}, got {type(value).__name__}", where(key)
            )
        elif p.enum is not None and value not in p.enum:
            yield Diagnostic("param.type", f"parameter {key!r} must be one of {p.enum}", where(key))
