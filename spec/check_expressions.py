"""Run-time expressions (`$[ ... ]`) of a flow, found and checked: where each is, which
tasks it reads (edges of the task graph) and whether its roots and names exist."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any

from jinja2.exceptions import TemplateError

from . import expressions as ex
from .check_base import DocPath
from .diagnostics import Diagnostic, Origin
from .diagnostics import did_you_mean as hint

Found = tuple[DocPath, ex.Expr | ex.ExpressionSyntaxError]


def runtime_expressions(value: Any, path: DocPath) -> Iterator[Found]:
    """(path, Expr or syntax error) for every `$[ ]` in the string values under `value`."""
    if isinstance(value, str):
        if "$[" not in value:
            return
        try:
            for part in ex.split(value, ex.RUN_TIME):
                if isinstance(part, ex.Expr):
                    yield path, part
        except ex.ExpressionSyntaxError as exc:
            yield path, exc
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from runtime_expressions(v, (*path, k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from runtime_expressions(v, (*path, i))


def task_references(task: Any) -> Iterator[Found]:
    """(path inside the task, Expr or syntax error) for every run-time expression of a task."""
    yield from runtime_expressions(task.inputs, ("inputs",))
    yield from runtime_expressions(task.map, ("map",))
    if task.when is not None:
        yield from runtime_expressions(task.when, ("when",))
    if task.shell is not None:
        shell = task.shell if isinstance(task.shell, str) else task.shell.model_dump()
        yield from runtime_expressions(shell, ("shell",))
    if task.deployment is not None:
        yield from runtime_expressions(task.deployment.job_variables, ("deployment", "job_variables"))


def task_targets(expr: ex.Expr) -> Iterator[str]:
    """The tasks an expression reads (`tasks.NAME...`): what the task waits for."""
    try:
        refs = ex.references(expr.source)
    except TemplateError:
        return
    for ref in refs:
        if len(ref) >= 2 and ref[0] == "tasks":
            yield ref[1]


def check_expr(
    expr: ex.Expr,
    params: dict[str, Any],
    tasks: dict[str, Any],
    allow: AbstractSet[str],
    where: Callable[[], Origin],
) -> Iterator[Diagnostic]:
    """An expression's roots are allowed and the parameters and tasks it names exist
    (`where` is called only for a problem: locating composes the file again)."""
    try:
        refs = ex.references(expr.source)
    except TemplateError as exc:
        yield Diagnostic("expr.syntax", f"invalid expression '$[ {expr.source} ]': {exc.message}", where())
        return
    if unsafe := ex.dunder_names(expr.source):
        message = f"{', '.join(unsafe)} cannot be used in '$[ {expr.source} ]' (the sandbox refuses it)"
        yield Diagnostic("expr.unsafe", message, where())
    for ref in refs:
        root = ref[0]
        if root not in allow:
            yield Diagnostic(
                "expr.unknown-root",
                f"'{root}' cannot be used in '$[ {expr.source} ]'; use {' or '.join(sorted(allow))}",
                where(),
                hint=hint(root, allow),
            )
        elif len(ref) < 2:
            continue
        elif root == "params" and ref[1] not in params:
            yield Diagnostic("ref.unknown-param", f"unknown parameter {ref[1]!r}", where(), hint=hint(ref[1], params))
        elif root == "tasks" and ref[1] not in tasks:
            yield Diagnostic("ref.unknown-task", f"unknown task {ref[1]!r}", where(), hint=hint(ref[1], tasks))
