"""Step 4: compile-time values. `<< values.X >>` and `<< env.X >>` in string values are
replaced before the models see the document; a lone expression keeps its type."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from jinja2.exceptions import TemplateError, UndefinedError

from . import expressions as ex
from .diagnostics import Diagnostic
from .limits import Budget
from .load import SourceDocument

__all__ = ["Budget", "context", "substitute"]

# Keys whose strings are never substituted: identity of the document.
_SKIP_TOP = ("apiVersion", "kind")


def context(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"values": dict(values), "env": dict(os.environ if environ is None else environ)}


def substitute(
    doc: SourceDocument, ctx: Mapping[str, Any], budget: ex.Budget | None = None
) -> tuple[Any, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    budget = budget if budget is not None else ex.Budget()

    def replace(text: str, path: tuple) -> Any:
        if "<<" not in text or (path and path[0] in _SKIP_TOP):
            return text
        try:
            return ex.render(text, ex.COMPILE_TIME, ctx, budget)
        except ex.ExpressionLimit as exc:
            problems.append(Diagnostic(exc.code, f"{_name(text)}: {exc}", doc.locate(path)))
        except ex.ExpressionFailed as exc:
            problems.append(Diagnostic("value.invalid", f"{_name(text)} failed: {exc}", doc.locate(path)))
        except ex.ExpressionSyntaxError as exc:
            problems.append(Diagnostic("value.syntax", str(exc), doc.locate(path)))
        except UndefinedError as exc:
            problems.append(
                Diagnostic(
                    "value.undefined", f"{_name(text)} is not defined ({exc})", doc.locate(path), hint=_known(ctx)
                )
            )
        except TemplateError as exc:
            problems.append(Diagnostic("value.syntax", f"invalid expression: {exc}", doc.locate(path)))
        return text

    return ex.walk_strings(doc.data, replace), problems


def _name(text: str) -> str:
    try:
        parts = [p for p in ex.split(text, ex.COMPILE_TIME) if isinstance(p, ex.Expr)]
    except ex.ExpressionSyntaxError:
        parts = []
    name = f"'<< {parts[0].source} >>'" if parts else repr(text)
    return name if len(name) <= 80 else name[:77] + "...'"


def _known(ctx: Mapping[str, Any]) -> str | None:
    names = sorted(ctx.get("values", {}))
    return f"values defined: {', '.join(names)}" if names else "the Project document defines no values"
