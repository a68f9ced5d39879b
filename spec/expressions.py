"""The two expression syntaxes, found in string values only.

- `<< values.bucket >>`: compile-time, resolved when specs load (roots: values, env).
- `$[ tasks.extract.result ]`: run-time, resolved inside the flow run
  (roots: params, tasks; `inputs` in run-name templates).

Neither collides with YAML, Jinja/Helm (`{{ }}`), GitHub Actions (`${{ }}`) or shell
(`$VAR`, `$(cmd)`). A backslash escapes either opener: `\\<<` and `\\$[` stay literal.
When a string is exactly one expression, the result keeps its type (an integer stays an
integer); otherwise the results are interpolated into the string.

Expressions are Jinja2 expressions evaluated in a sandboxed, immutable environment.
Compile-time expressions come from files that may be untrusted (a pull request), so they
run with limits (`limits.py`): every value they build is at most MAX_VALUE_SIZE
characters or items (`value.too-large`), and they stop after a time budget
(`expr.timeout`). Any other failure of an expression (`1/0`, `1 + 'a'`) is raised as
ExpressionFailed, the author's mistake, never an internal error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import limits
from .limits import Budget, ExpressionFailed, ExpressionLimit

COMPILE_TIME = ("<<", ">>")
RUN_TIME = ("$[", "]")


class Lookup:
    """A root whose names are looked up by `_lookup(name, undefined)` (the environment):
    not a value itself, never iterated, no attribute of it reachable from an expression."""

    def _lookup(self, name: str, undefined: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class NotDeclared(Exception):
    """`env.X` where X is not declared: the variable is not read."""


class Poisoned:
    """A compile-time value whose own expression failed (already reported)."""

    def __repr__(self) -> str:
        return "<failed value>"


class UsesFailed(Exception):
    """An expression reads a Poisoned value: the document is left out, nothing reported again."""


class _Environment(ImmutableSandboxedEnvironment):
    """Keys win over attributes on mappings: `params.items` is the parameter named
    `items`, not dict.items (YAML users think in keys)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Lookup):
            return _usable(obj._lookup(str(attribute), self.undefined))
        if isinstance(obj, Mapping) and attribute in obj:
            return _usable(obj[attribute])
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Lookup):
            return _usable(obj._lookup(str(argument), self.undefined))
        return _usable(super().getitem(obj, argument))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return not isinstance(obj, Lookup) and super().is_safe_attribute(obj, attr, value)


def _usable(value: Any) -> Any:
    if isinstance(value, Poisoned):
        raise UsesFailed()
    return value


class _LimitedEnvironment(limits.LimitedMixin, _Environment):
    """For compile-time expressions: every operation that can build a large value or loop
    checks the size of what it builds and the time budget (see limits.py)."""


_ENV = _Environment(undefined=StrictUndefined, autoescape=False)
# `$[ x | raw ]` marks a value pasted into a shell command as code (compiler/shell.py);
# anywhere else it changes nothing.
_ENV.filters["raw"] = lambda value: value
_LIMITED = _LimitedEnvironment(undefined=StrictUndefined, autoescape=False)
limits.guard_filters(_LIMITED)


@dataclass(frozen=True)
class Expr:
    source: str  # the expression text between the delimiters, stripped
    offset: int  # where the opener starts in the containing string


Part = str | Expr


class ExpressionSyntaxError(ValueError):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


# Block and variable names contain '-', which Jinja reads as a minus: `secrets.api-token`
# and `blocks.s3-bucket.raw-data` are rewritten as subscripts before parsing (names win).
_NAMED = re.compile(r"(?<![\w.'\"\]])\b(secrets|variables)\.([A-Za-z0-9_][A-Za-z0-9_-]*[A-Za-z0-9_]|[A-Za-z0-9_])")
_BLOCK = re.compile(r"(?<![\w.'\"\]])\bblocks\.([a-z0-9][a-z0-9-]*)\.([a-z0-9][a-z0-9-]*)")


def resource_names(source: str) -> str:
    """`secrets.api-token` -> `secrets['api-token']`, `blocks.s3-bucket.x` -> `blocks['s3-bucket']['x']`."""
    if "-" not in source:
        return source
    source = _BLOCK.sub(lambda m: f"blocks[{m[1]!r}][{m[2]!r}]", source)
    return _NAMED.sub(lambda m: f"{m[1]}[{m[2]!r}]" if "-" in m[2] else m[0], source)


def split(text: str, delims: tuple[str, str]) -> tuple[Part, ...]:
    """Split a string into literal text and expressions. Raises ExpressionSyntaxError."""
    opener, closer = delims
    parts: list[Part] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("\\" + opener, i):
            buf.append(opener)
            i += 1 + len(opener)
            continue
        if not text.startswith(opener, i):
            buf.append(text[i])
            i += 1
            continue
        end = _find_close(text, i + len(opener), closer)
        if end < 0:
            raise ExpressionSyntaxError(f"'{opener}' is never closed with '{closer}'", i)
        source = text[i + len(opener) : end].strip()
        if not source:
            raise ExpressionSyntaxError(f"empty expression '{opener}{closer}'", i)
        if buf:
            parts.append("".join(buf))
            buf = []
        parts.append(Expr(resource_names(source) if delims == RUN_TIME else source, i))
        i = end + len(closer)
    if buf:
        parts.append("".join(buf))
    return tuple(parts)


def _find_close(text: str, start: int, closer: str) -> int:
    """Index of the closer, skipping brackets and quoted strings inside the expression."""
    depth, quote, i = 0, "", start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif depth == 0 and text.startswith(closer, i):
            return i
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    return -1


@lru_cache(maxsize=4096)
def compile_expr(source: str, limited: bool = False) -> Callable[..., Any]:
    """A callable(**context) for one expression. Raises TemplateSyntaxError."""
    if not limited:
        return _ENV.compile_expression(source, undefined_to_none=False)
    # As Environment.compile_expression, with `a ~ b` routed through a size check (Jinja
    # compiles string concatenation to a plain join no sandbox hook sees).
    try:
        parser = Parser(_LIMITED, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
        expr = cast(nodes.Expr, limits.route_concat(expr))  # an expression stays one
        expr.set_environment(_LIMITED)
        body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
        template = _LIMITED.from_string(nodes.Template(body, lineno=1), globals=limits.GLOBALS)
    except (RecursionError, MemoryError, SyntaxError) as exc:  # a long chain `1+1+...` nests as deep
        if isinstance(exc, TemplateSyntaxError):
            raise
        raise TemplateSyntaxError("expression nests too deeply", 1, None, None) from None
    return TemplateExpression(template, False)


@lru_cache(maxsize=4096)
def references(source: str) -> tuple[tuple[str, ...], ...]:
    """Dotted paths an expression reads, e.g. ("tasks", "extract", "result"). Raises TemplateError."""
    try:
        return _references(source)
    except RecursionError:  # a long chain `a+a+...` nests as deep as it is long
        raise TemplateSyntaxError("expression nests too deeply", 1, None, None) from None


def _references(source: str) -> tuple[tuple[str, ...], ...]:
    tree = _ENV.parse("{{ (" + source + ") }}")
    found: list[tuple[str, ...]] = []

    def path_of(node: nodes.Node) -> tuple[str, ...] | None:
        if isinstance(node, nodes.Name):
            return (node.name,)
        if isinstance(node, nodes.Getattr):
            base = path_of(node.node)
            return (*base, node.attr) if base else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            base = path_of(node.node)
            return (*base, node.arg.value) if base else None
        return None

    def walk(node: nodes.Node) -> None:
        p = path_of(node)
        if p is not None and isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            found.append(p)
            if isinstance(node, nodes.Getitem):
                walk(node.arg)
            return
        for child in node.iter_child_nodes():
            walk(child)

    walk(tree)
    return tuple(found)


@lru_cache(maxsize=4096)
def dunder_names(source: str) -> tuple[str, ...]:
    """`__x__`-style attributes or keys an expression reaches for (`''.__class__`,
    `x['__globals__']`): what a sandbox escape starts with. The sandbox refuses them when
    the flow runs; validate names them first. Raises TemplateError."""
    try:  # the walk recurses like the parse: both inside the guard
        tree = _ENV.parse("{{ (" + source + ") }}")
        found = [n.attr for n in tree.find_all(nodes.Getattr)]
        found += [n.arg.value for n in tree.find_all(nodes.Getitem) if isinstance(n.arg, nodes.Const)]
    except RecursionError:
        raise TemplateSyntaxError("expression nests too deeply", 1, None, None) from None
    return tuple(sorted({f for f in found if isinstance(f, str) and f.startswith("__")}))


def raw_source(source: str) -> str | None:
    """The expression without its final `| raw` (a value pasted into a shell command as
    code, compiler/shell.py), or None when it does not end with one."""
    try:
        node = _ENV.parse("{{ (" + source + ") }}").body[0].nodes[0]  # type: ignore[attr-defined]
    except (TemplateError, RecursionError):  # reported by validate
        return None
    if isinstance(node, nodes.Filter) and node.name == "raw" and not (node.args or node.kwargs):
        return source[: source.rfind("|")].strip()
    return None


def evaluate(parts: tuple[Part, ...], context: Mapping[str, Any], budget: Budget | None = None) -> Any:
    """Evaluate a split string. One lone expression keeps its type; otherwise a string.
    With a budget (compile time), evaluation is limited in size and time."""
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return _checked(_run(parts[0], context, budget), parts[0])
    out = []
    for p in parts:
        out.append(p if isinstance(p, str) else _to_text(_checked(_run(p, context, budget), p)))
    text = "".join(out)
    if budget is not None:
        limits.check_size(text)
    return text


def _run(expr: Expr, context: Mapping[str, Any], budget: Budget | None) -> Any:
    if budget is None:
        return compile_expr(expr.source)(**context)
    fn = compile_expr(expr.source, True)
    with budget.running():
        try:
            value = fn(**context)
            limits.check_size(value)
            return value
        except (TemplateError, ExpressionLimit, ExpressionFailed, NotDeclared, UsesFailed):
            raise
        except RecursionError:
            raise ExpressionFailed("the expression nests too deeply") from None
        except MemoryError:
            raise ExpressionLimit("value.too-large", "the expression needs too much memory") from None
        except Exception as exc:  # 1/0, 1 + 'a', (10**400)|float: the expression is wrong, not pipeform
            raise ExpressionFailed(f"{type(exc).__name__}: {exc}") from None


def _checked(value: Any, expr: Expr) -> Any:
    if isinstance(value, Lookup):  # `<< env >>`: the environment is not a value (it would dump it)
        raise ExpressionFailed(f"'{expr.source}' is not a value: read one variable, << {expr.source}.NAME >>")
    if isinstance(value, Poisoned):
        raise UsesFailed()
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # raises UndefinedError naming the missing key
        raise UndefinedError(f"'{expr.source}' is undefined")
    return value


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def render(text: str, delims: tuple[str, str], context: Mapping[str, Any], budget: Budget | None = None) -> Any:
    """split + evaluate. Raises ExpressionSyntaxError or jinja2 TemplateError (including
    undefined); with a budget also ExpressionLimit and ExpressionFailed."""
    if delims[0] not in text:
        return text
    return evaluate(split(text, delims), context, budget)


def walk_strings(value: Any, fn: Callable[[str, tuple[Any, ...]], Any], path: tuple[Any, ...] = ()) -> Any:
    """Rebuild a JSON-like value, replacing each string s at path p by fn(s, p)."""
    if isinstance(value, str):
        return fn(value, path)
    if isinstance(value, Mapping):
        return {k: walk_strings(v, fn, (*path, k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [walk_strings(v, fn, (*path, i)) for i, v in enumerate(value)]
    return value


__all__ = [
    "COMPILE_TIME",
    "RUN_TIME",
    "Budget",
    "Expr",
    "ExpressionFailed",
    "ExpressionLimit",
    "ExpressionSyntaxError",
    "Lookup",
    "NotDeclared",
    "Poisoned",
    "TemplateError",
    "UsesFailed",
    "compile_expr",
    "evaluate",
    "raw_source",
    "references",
    "render",
    "split",
    "walk_strings",
]
