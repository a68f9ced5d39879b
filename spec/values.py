"""Step 4: compile-time values. `<< values.X >>` and `<< env.X >>` in string values are
replaced before the models see the document; a lone expression keeps its type.

The environment is read by declaration only: `env.X` reads X when the Project document
declares it (`spec.env`, with an optional default and `sensitive: true`) or when its name
starts with ENV_PREFIX; any other name is `value.undefined`, with or without a `default`
filter, and nothing else of the machine's environment is reachable (`<< env >>` is not a
value). Sensitive values are collected so every diagnostic and plan can mask them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from jinja2.exceptions import TemplateError, UndefinedError

from . import expressions as ex
from .diagnostics import Diagnostic, Origin
from .limits import Budget
from .load import SourceDocument

__all__ = [
    "ENV_PREFIX",
    "REPORTED",
    "Budget",
    "EnvView",
    "FailedValues",
    "Poisoned",
    "TaintedValues",
    "context",
    "secrets",
    "sensitive_env",
    "substitute",
]

ENV_PREFIX = "PIPEFORM_VAR_"  # readable without a declaration (never sensitive)
# Keys whose strings are never substituted: identity of the document.
_SKIP_TOP = ("apiVersion", "kind")
_SKIP_PATHS = (("spec", "env"),)  # a Project's declarations themselves are literal (an Environment's env is not)


Poisoned = ex.Poisoned  # a Project value whose expression failed (reported once, where it is written)


class EnvView(ex.Lookup):
    """`env` in expressions: the declared variables only. Holds no other variable of the
    environment, so nothing else can leak through introspection."""

    def __init__(self, declared: Mapping[str, Any], environ: Mapping[str, str]):
        self._declared = {k: v if isinstance(v, dict) else {} for k, v in declared.items()}
        self._values: dict[str, str] = {}
        self._sensitive = frozenset(k for k, v in self._declared.items() if v.get("sensitive"))
        # names of sensitive variables the expression being rendered read, set or not
        # (substitute resets it per string: check_secrets.py refuses them outside secret fields)
        self.read: set[str] = set()
        self.named: dict[str, str] = {}  # sensitive variable -> its value (set ones), for messages
        for name, decl in self._declared.items():
            value = environ.get(name)
            if value is not None and decl.get("sensitive"):
                self.named[name] = value
            value = value if value is not None else decl.get("default")
            if isinstance(value, str):
                self._values[name] = value
        self._values.update({k: v for k, v in environ.items() if k.startswith(ENV_PREFIX) and k not in self._declared})

    def _lookup(self, name: str, undefined: Any) -> Any:
        if name in self._sensitive:
            self.read.add(name)
        if name in self._values:
            return self._values[name]
        if name in self._declared:
            return undefined(hint=f"environment variable {name} is declared but not set, and has no default")
        raise ex.NotDeclared(name)


class TaintedValues(dict[str, Any]):
    """`values` when some Project values were computed from sensitive variables (`taint`:
    value -> those variables): reading one counts as reading them (EnvView.read)."""

    def __init__(self, data: Mapping[str, Any], taint: Mapping[str, frozenset[str]], read: set[str]):
        super().__init__(data)
        self._taint, self._read = taint, read

    def __getitem__(self, key: str) -> Any:
        self._read.update(self._taint.get(key, ()))
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._read.update(self._taint.get(key, ()))
        return super().get(key, default)

    def _all_read(self) -> None:
        self._read.update(n for names in self._taint.values() for n in names)

    def items(self) -> Any:
        self._all_read()
        return super().items()

    def values(self) -> Any:
        self._all_read()
        return super().values()

    # dict's own repr (`<< values >>`, `| string`) and copy read every value without items()
    def __repr__(self) -> str:
        self._all_read()
        return super().__repr__()

    def copy(self) -> dict[str, Any]:
        self._all_read()
        return dict(super().items())


class FailedValues(ex.Lookup):
    """`values` when the Project document itself failed: its problems are reported there."""

    def _lookup(self, name: str, undefined: Any) -> Any:
        raise ex.UsesFailed()


REPORTED = object()  # substitute()'s data when the document uses a value already reported as failed


def context(
    values: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
    declared: Mapping[str, Any] | None = None,
    taint: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """values=None: the Project document failed, so no value is known (and none is reported
    missing). `taint`: Project values computed from sensitive variables (TaintedValues)."""
    env = EnvView(declared or {}, os.environ if environ is None else environ)
    known: Any = FailedValues() if values is None else dict(values)
    if taint and values is not None:
        known = TaintedValues(values, taint, env.read)
    return {"values": known, "env": env}


def secrets(ctx: Mapping[str, Any]) -> frozenset[str]:
    """The values of the declared sensitive variables that are set (to mask them)."""
    return frozenset(sensitive_env(ctx).values())


def sensitive_env(ctx: Mapping[str, Any]) -> dict[str, str]:
    """Declared sensitive variable -> its value, for the set ones (to name them, never print them)."""
    env = ctx.get("env")
    return dict(env.named) if isinstance(env, EnvView) else {}


def declarations(project_data: Any) -> dict[str, Any]:
    """`spec.env` of a raw (schema-valid) Project document."""
    spec = project_data.get("spec") if isinstance(project_data, dict) else None
    env = spec.get("env") if isinstance(spec, dict) else None
    return env if isinstance(env, dict) else {}


def substitute(
    doc: SourceDocument,
    ctx: Mapping[str, Any],
    budget: Budget | None = None,
    *,
    poison: bool = False,
    tainted: dict[tuple[str | int, ...], frozenset[str]] | None = None,
) -> tuple[Any, list[Diagnostic]]:
    """The document with its compile-time expressions replaced, and the problems found.
    With poison=True a failing string becomes Poisoned (the Project's values). The data is
    REPORTED when the document uses a value whose failure was reported already. `tainted`
    is filled with path -> the sensitive variables the string at that path read."""
    problems: list[Diagnostic] = []
    budget = budget if budget is not None else Budget()
    reported = False
    env = ctx.get("env")
    read = env.read if isinstance(env, EnvView) else set()
    skip = _SKIP_PATHS if isinstance(doc.data, dict) and doc.data.get("kind") == "Project" else ()

    def replace(text: str, path: tuple[str | int, ...]) -> Any:
        nonlocal reported
        if "<<" not in text or (path and path[0] in _SKIP_TOP) or path[:2] in skip:
            return text
        count = len(problems)
        read.clear()
        try:
            value = ex.render(text, ex.COMPILE_TIME, ctx, budget)
            if read and tainted is not None:
                tainted[path] = frozenset(read)
            return value
        except ex.UsesFailed:
            reported = True
        except (
            ex.NotDeclared,
            ex.ExpressionLimit,
            ex.ExpressionFailed,
            ex.ExpressionSyntaxError,
            TemplateError,
        ) as exc:
            problems.append(_problem(exc, text, doc.locate(path), ctx))
        return Poisoned() if poison and len(problems) > count else text

    data = ex.walk_strings(doc.data, replace)
    return (REPORTED if reported and not problems else data), problems


def _problem(exc: Exception, text: str, where: Origin, ctx: Mapping[str, Any]) -> Diagnostic:
    """The diagnostic of a compile-time expression that failed to render."""
    if isinstance(exc, ex.NotDeclared):
        return Diagnostic(
            "value.undefined",
            f"environment variable {exc} is not declared, so it is not read",
            where,
            hint=f"declare it in the Project document: spec.env.{exc}: {{}} (or name it {ENV_PREFIX}...)",
        )
    if isinstance(exc, ex.ExpressionLimit):
        return Diagnostic(exc.code, f"{_name(text)}: {exc}", where)
    if isinstance(exc, ex.ExpressionFailed):
        return Diagnostic("value.invalid", f"{_name(text)} failed: {exc}", where)
    if isinstance(exc, ex.ExpressionSyntaxError):
        return Diagnostic("value.syntax", str(exc), where)
    if isinstance(exc, UndefinedError):
        unset = str(exc).startswith("environment variable")
        return Diagnostic(
            "value.undefined",
            f"{_name(text)}: {exc}" if unset else f"{_name(text)} is not defined ({exc})",
            where,
            hint="set it, give it a default in spec.env, or use | default('...')" if unset else _known(ctx),
        )
    return Diagnostic("value.syntax", f"invalid expression: {exc}", where)


def _name(text: str) -> str:
    try:
        parts = [p for p in ex.split(text, ex.COMPILE_TIME) if isinstance(p, ex.Expr)]
    except ex.ExpressionSyntaxError:
        parts = []
    name = f"'<< {parts[0].source} >>'" if parts else repr(text)
    return name if len(name) <= 80 else name[:77] + "...'"


def _known(ctx: Mapping[str, Any]) -> str | None:
    known = ctx.get("values", {})
    names = sorted(known) if isinstance(known, dict) else []
    return f"values defined: {', '.join(names)}" if names else "the Project document defines no values"
