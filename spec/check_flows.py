"""Checks of Flow documents: task names, parameters, the references of each task (tasks,
subflows, deployments, concurrency limits, hooks), run-time expressions, and the task and
subflow graphs (no cycles)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import check_blocks, check_params
from . import expressions as ex
from .check_base import ByKind, Invalid, Locate
from .check_expressions import check_expr, runtime_expressions, task_references, task_targets
from .diagnostics import Diagnostic, Origin
from .diagnostics import did_you_mean as hint

RUNTIME_ROOTS = frozenset({"params", "tasks", *check_blocks.RESOURCE_ROOTS})
At = Callable[..., Origin]  # (*path inside the flow's spec) -> Origin


@dataclass(frozen=True)
class _Flow:
    """What the checks of one flow's tasks need to know."""

    name: str
    tasks: dict[str, int]  # task name -> index of its first declaration
    params: dict[str, Any]
    by_kind: ByKind
    limits: frozenset[str]  # ConcurrencyLimit documents a task may name
    at: At


def check_flow(flow: Any, by_kind: ByKind, locate: Locate) -> Iterator[Diagnostic]:
    name, spec = flow.metadata.name, flow.spec

    def at(*path: Any) -> Origin:
        return locate("Flow", name, ("spec", *path))

    scope = _Flow(name, _first_index(spec.tasks), spec.parameters, by_kind, _task_limits(by_kind), at)
    yield from _duplicate_tasks(scope, spec.tasks)
    yield from check_params.check_declared(name, spec.parameters, locate)
    deps: dict[str, set[str]] = {t.name: set() for t in spec.tasks}
    for i, task in enumerate(spec.tasks):
        yield from _check_task(scope, i, task, deps[task.name])
    yield from _check_hooks(spec.hooks, scope.tasks, lambda *p: at("hooks", *p))
    yield from check_blocks.flow_resource_refs(spec, by_kind, at)
    yield from _check_returns(scope, spec.returns)
    cycle = find_cycle(deps)
    if cycle:
        yield Diagnostic(
            "graph.cycle",
            "tasks depend on each other in a cycle: " + " -> ".join(cycle),
            at("tasks", scope.tasks[cycle[0]]),
        )


def _first_index(tasks: list[Any]) -> dict[str, int]:
    first: dict[str, int] = {}
    for i, t in enumerate(tasks):
        first.setdefault(t.name, i)
    return first


def _task_limits(by_kind: ByKind) -> frozenset[str]:
    """Limits a task's `concurrency` may name: those without a tag (a tag limit is Prefect's
    task-run tag concurrency, not a global limit)."""
    found = by_kind.get("ConcurrencyLimit", {})
    return frozenset(n for n, d in found.items() if isinstance(d, Invalid) or d.spec.tag is None)


def _duplicate_tasks(scope: _Flow, tasks: list[Any]) -> Iterator[Diagnostic]:
    for i, t in enumerate(tasks):
        if scope.tasks[t.name] != i:
            yield Diagnostic(
                "name.duplicate",
                f"task {t.name!r} is declared twice in flow {scope.name!r}",
                scope.at("tasks", i, "name"),
            )


def _check_task(scope: _Flow, i: int, t: Any, deps: set[str]) -> Iterator[Diagnostic]:
    """One task's references; the tasks it waits for are added to `deps`."""
    yield from _check_depends_on(scope, i, t, deps)
    yield from _check_task_expressions(scope, i, t, deps)
    yield from _check_targets(scope, i, t)
    yield from _check_hooks(t.hooks, scope.tasks, lambda *p: scope.at("tasks", i, "hooks", *p))


def _check_depends_on(scope: _Flow, i: int, t: Any, deps: set[str]) -> Iterator[Diagnostic]:
    for j, dep in enumerate(t.depends_on):
        if dep in scope.tasks:
            deps.add(dep)
            continue
        yield Diagnostic(
            "ref.unknown-task",
            f"task {t.name!r} depends on unknown task {dep!r}",
            scope.at("tasks", i, "depends_on", j),
            hint=hint(dep, scope.tasks),
        )


def _check_task_expressions(scope: _Flow, i: int, t: Any, deps: set[str]) -> Iterator[Diagnostic]:
    for path, expr in task_references(t):
        where = functools.partial(scope.at, "tasks", i, *path)
        if isinstance(expr, ex.ExpressionSyntaxError):
            yield Diagnostic("expr.syntax", str(expr), where())
            continue
        if path in (("shell",), ("shell", "command")) and ex.raw_source(expr.source) is not None:
            yield Diagnostic(
                "shell.raw",
                f"'$[ {expr.source} ]' is pasted into the command as shell code: a value such as"
                " '$(...)' or '; rm ...' would run",
                where(),
                severity="warning",
                hint="drop '| raw' to pass the value safely (as a quoted environment variable)",
            )
        yield from check_expr(expr, scope.params, scope.tasks, RUNTIME_ROOTS, where)
        deps.update(target for target in task_targets(expr) if target in scope.tasks)


def _check_targets(scope: _Flow, i: int, t: Any) -> Iterator[Diagnostic]:
    """The subflow, deployment and concurrency limits a task names."""
    flows, deployments = scope.by_kind.get("Flow", {}), scope.by_kind.get("Deployment", {})
    if t.subflow is not None and t.subflow.flow not in flows:
        yield Diagnostic(
            "ref.unknown-flow",
            f"subflow {t.subflow.flow!r} is not a Flow document",
            scope.at("tasks", i, "subflow", "flow"),
            hint=hint(t.subflow.flow, flows),
        )
    if t.deployment is not None and "/" not in t.deployment.name and t.deployment.name not in deployments:
        yield Diagnostic(
            "ref.unknown-deployment",
            f"{t.deployment.name!r} is not a Deployment document (use 'flow/deployment' for one that only exists on the server)",
            scope.at("tasks", i, "deployment", "name"),
            hint=hint(t.deployment.name, deployments),
        )
    if t.concurrency is not None:
        for lim in [*t.concurrency.limits, *t.concurrency.rate_limit]:
            if lim not in scope.limits:
                yield Diagnostic(
                    "ref.unknown-limit",
                    f"no ConcurrencyLimit document named {lim!r}",
                    scope.at("tasks", i, "concurrency"),
                    severity="warning",
                    hint=hint(lim, scope.limits),
                )


def _check_returns(scope: _Flow, returns: Any) -> Iterator[Diagnostic]:
    if not isinstance(returns, str | dict | list):
        return
    for path, expr in runtime_expressions(returns, ("returns",)):
        if isinstance(expr, ex.ExpressionSyntaxError):
            yield Diagnostic("expr.syntax", str(expr), scope.at(*path))
            continue
        yield from check_expr(expr, scope.params, scope.tasks, RUNTIME_ROOTS, functools.partial(scope.at, *path))


def _check_hooks(hooks: Any, tasks: dict[str, Any], at: At) -> Iterator[Diagnostic]:
    if hooks is None:
        return
    for kind in ("on_failure", "on_completion"):
        for i, h in enumerate(getattr(hooks, kind)):
            given = [k for k in ("task", "shell", "python") if getattr(h, k) is not None]
            if len(given) != 1:
                yield Diagnostic("hook.invalid", "a hook needs exactly one of: task, shell, python", at(kind, i))
            if h.task is not None and h.task not in tasks:
                yield Diagnostic(
                    "ref.unknown-task",
                    f"hook runs unknown task {h.task!r}",
                    at(kind, i, "task"),
                    hint=hint(h.task, tasks),
                )


def find_cycle(deps: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle as a list of names (first repeated at the end), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(deps, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = GREY
        stack.append(node)
        for nxt in sorted(deps.get(node, ())):
            if color.get(nxt) == GREY:
                return [*stack[stack.index(nxt) :], nxt]
            if color.get(nxt) == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = BLACK
        return None

    for n in deps:
        if color[n] == WHITE:
            found = visit(n)
            if found:
                return found
    return None


def subflow_cycles(flows: dict[str, Any], locate: Locate) -> Iterator[Diagnostic]:
    calls = {n: {t.subflow.flow for t in f.spec.tasks if t.subflow is not None} for n, f in flows.items()}
    cycle = find_cycle(calls)
    if cycle:
        yield Diagnostic(
            "graph.cycle",
            "flows call each other as subflows in a cycle: " + " -> ".join(cycle),
            locate("Flow", cycle[0], ("spec", "tasks")),
        )
