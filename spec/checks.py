"""Step 6: semantic checks over validated documents. Pure functions returning Diagnostics:
names, references, the task graph, schedules, parameters."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any

from jinja2.exceptions import TemplateError

from pipeform import diskcache

from . import check_blocks
from . import expressions as ex
from .diagnostics import Diagnostic, Origin
from .diagnostics import did_you_mean as hint

DocPath = tuple[str | int, ...]  # inside a document or a task
Locate = Callable[..., Origin]  # (kind, name, path, key=False) -> Origin
RUNTIME_ROOTS = {"params", "tasks", *check_blocks.RESOURCE_ROOTS}
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


class Invalid:
    """Stands for a document that failed an earlier step: references to it are not reported again."""


def check_all(docs: list[Any], locate: Locate, invalid: AbstractSet[tuple[str, str]] = frozenset()) -> list[Diagnostic]:
    out = list(_duplicates(docs, locate))
    by_kind: dict[str, dict[str, Any]] = {}
    for kind, name in invalid:
        by_kind.setdefault(kind, {})[name] = Invalid()
    for d in docs:
        by_kind.setdefault(d.kind, {})[d.metadata.name] = d
    flows = {n: f for n, f in by_kind.get("Flow", {}).items() if not isinstance(f, Invalid)}
    for flow in flows.values():
        out.extend(check_flow(flow, by_kind, locate))
    out.extend(_subflow_cycles(flows, locate))
    for dep in by_kind.get("Deployment", {}).values():
        if not isinstance(dep, Invalid):
            out.extend(check_deployment(dep, by_kind, locate))
    for auto in by_kind.get("Automation", {}).values():
        if not isinstance(auto, Invalid):
            out.extend(check_automation(auto, by_kind, locate))
    out.extend(check_blocks.check_blocks(by_kind, locate))
    out.extend(check_blocks.check_block_refs(by_kind, locate))
    out.extend(_pool_checks(by_kind, locate))
    from .check_triggers import check_triggers

    out.extend(check_triggers(by_kind, locate, Invalid))
    return out


def _pool_checks(by_kind: dict[str, dict[str, Any]], locate: Locate) -> Iterator[Diagnostic]:
    from . import checks_pools as cp

    for kind, check in (("WorkPool", cp.check_work_pool), ("Environment", cp.check_environment)):
        for doc in by_kind.get(kind, {}).values():
            if not isinstance(doc, Invalid):
                yield from check(doc, locate)
    for dep in by_kind.get("Deployment", {}).values():
        if not isinstance(dep, Invalid):
            yield from cp.check_deployment_pool(dep, by_kind, locate)


def _duplicates(docs: list[Any], locate: Locate) -> Iterator[Diagnostic]:
    seen: dict[tuple[str, str], Any] = {}
    projects = [d for d in docs if d.kind == "Project"]
    for extra in projects[1:]:
        yield Diagnostic(
            "project.duplicate",
            "a project has at most one Project document",
            locate("Project", extra.metadata.name, ("kind",)),
        )
    for d in docs:
        key = (d.kind, d.metadata.name)
        if key in seen:
            first = locate(d.kind, d.metadata.name, ())
            yield Diagnostic(
                "name.duplicate", f"{d.kind} {d.metadata.name!r} is declared twice (first at {first})", first
            )
        seen[key] = d


# --- flows -----------------------------------------------------------------------------


def _expressions(value: Any, path: DocPath) -> Iterator[tuple[DocPath, ex.Expr | ex.ExpressionSyntaxError]]:
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
            yield from _expressions(v, (*path, k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _expressions(v, (*path, i))


def task_references(task: Any) -> Iterator[tuple[DocPath, Any]]:
    """(path inside the task, Expr or syntax error) for every run-time expression of a task."""
    yield from _expressions(task.inputs, ("inputs",))
    yield from _expressions(task.map, ("map",))
    if task.when is not None:
        yield from _expressions(task.when, ("when",))
    if task.shell is not None:
        shell = task.shell if isinstance(task.shell, str) else task.shell.model_dump()
        yield from _expressions(shell, ("shell",))
    if task.deployment is not None:
        yield from _expressions(task.deployment.job_variables, ("deployment", "job_variables"))


def check_flow(flow: Any, by_kind: dict[str, dict[str, Any]], locate: Locate) -> Iterator[Diagnostic]:
    name, spec = flow.metadata.name, flow.spec

    def at(*path: Any) -> Origin:
        return locate("Flow", name, ("spec", *path))

    tasks: dict[str, int] = {}
    for i, t in enumerate(spec.tasks):
        if t.name in tasks:
            yield Diagnostic(
                "name.duplicate", f"task {t.name!r} is declared twice in flow {name!r}", at("tasks", i, "name")
            )
        tasks.setdefault(t.name, i)
    params = spec.parameters
    for pname, p in params.items():
        if pname.startswith(RESERVED_PARAM_PREFIXES):
            yield Diagnostic(
                "param.reserved-name",
                f"parameter name {pname!r} is reserved: names starting with 'v__' or 'model_' clash with"
                " the pydantic model Prefect validates flow parameters with",
                locate("Flow", name, ("spec", "parameters", pname), key=True),
            )
        yield from _check_param_default(pname, p, functools.partial(at, "parameters", pname, "default"))
    deps: dict[str, set[str]] = {t.name: set() for t in spec.tasks}
    limits = {n for n, d in by_kind.get("ConcurrencyLimit", {}).items() if isinstance(d, Invalid) or d.spec.tag is None}
    for i, t in enumerate(spec.tasks):
        for j, dep in enumerate(t.depends_on):
            if dep not in tasks:
                yield Diagnostic(
                    "ref.unknown-task",
                    f"task {t.name!r} depends on unknown task {dep!r}",
                    at("tasks", i, "depends_on", j),
                    hint=hint(dep, tasks),
                )
            else:
                deps[t.name].add(dep)
        for path, expr in task_references(t):
            if isinstance(expr, ex.ExpressionSyntaxError):
                yield Diagnostic("expr.syntax", str(expr), at("tasks", i, *path))
                continue
            if path in (("shell",), ("shell", "command")) and ex.raw_source(expr.source) is not None:
                yield Diagnostic(
                    "shell.raw",
                    f"'$[ {expr.source} ]' is pasted into the command as shell code: a value such as"
                    " '$(...)' or '; rm ...' would run",
                    at("tasks", i, *path),
                    severity="warning",
                    hint="drop '| raw' to pass the value safely (as a quoted environment variable)",
                )
            for problem, target in _check_expr(expr, params, tasks, allow=RUNTIME_ROOTS):
                yield Diagnostic(problem[0], problem[1], at("tasks", i, *path), hint=problem[2])
                if target:
                    deps[t.name].add(target)
            for target in _task_targets(expr):
                if target in tasks:
                    deps[t.name].add(target)
        if t.subflow is not None and t.subflow.flow not in by_kind.get("Flow", {}):
            flows = by_kind.get("Flow", {})
            yield Diagnostic(
                "ref.unknown-flow",
                f"subflow {t.subflow.flow!r} is not a Flow document",
                at("tasks", i, "subflow", "flow"),
                hint=hint(t.subflow.flow, flows),
            )
        if (
            t.deployment is not None
            and "/" not in t.deployment.name
            and t.deployment.name not in by_kind.get("Deployment", {})
        ):
            deps_known = by_kind.get("Deployment", {})
            yield Diagnostic(
                "ref.unknown-deployment",
                f"{t.deployment.name!r} is not a Deployment document (use 'flow/deployment' for one that only exists on the server)",
                at("tasks", i, "deployment", "name"),
                hint=hint(t.deployment.name, deps_known),
            )
        if t.concurrency is not None:
            for j, lim in enumerate([*t.concurrency.limits, *t.concurrency.rate_limit]):
                if lim not in limits:
                    yield Diagnostic(
                        "ref.unknown-limit",
                        f"no ConcurrencyLimit document named {lim!r}",
                        at("tasks", i, "concurrency"),
                        severity="warning",
                        hint=hint(lim, limits),
                    )
                    del j
        for hpath, hooks in (("hooks", t.hooks),):
            yield from _check_hooks(hooks, tasks, lambda *p, _i=i, _h=hpath: at("tasks", _i, _h, *p))
    yield from _check_hooks(spec.hooks, tasks, lambda *p: at("hooks", *p))
    yield from check_blocks.flow_resource_refs(spec, by_kind, at)
    if isinstance(spec.returns, str | dict | list):
        for path, expr in _expressions(spec.returns, ("returns",)):
            if isinstance(expr, ex.ExpressionSyntaxError):
                yield Diagnostic("expr.syntax", str(expr), at(*path))
                continue
            for problem, _ in _check_expr(expr, params, tasks, allow=RUNTIME_ROOTS):
                yield Diagnostic(problem[0], problem[1], at(*path), hint=problem[2])
    cycle = find_cycle(deps)
    if cycle:
        yield Diagnostic(
            "graph.cycle", "tasks depend on each other in a cycle: " + " -> ".join(cycle), at("tasks", tasks[cycle[0]])
        )


def _task_targets(expr: ex.Expr) -> Iterator[str]:
    try:
        refs = ex.references(expr.source)
    except TemplateError:
        return
    for ref in refs:
        if len(ref) >= 2 and ref[0] == "tasks":
            yield ref[1]


def _check_expr(
    expr: ex.Expr, params: dict[str, Any], tasks: dict[str, Any], allow: set[str]
) -> Iterator[tuple[tuple[str, str, str | None], str | None]]:
    try:
        refs = ex.references(expr.source)
    except TemplateError as exc:
        yield ("expr.syntax", f"invalid expression '$[ {expr.source} ]': {exc.message}", None), None
        return
    for ref in refs:
        root = ref[0]
        if root not in allow:
            yield (
                (
                    "expr.unknown-root",
                    f"'{root}' cannot be used in '$[ {expr.source} ]'; use {' or '.join(sorted(allow))}",
                    hint(root, allow),
                ),
                None,
            )
        elif len(ref) < 2:
            continue
        elif root == "params" and ref[1] not in params:
            yield ("ref.unknown-param", f"unknown parameter {ref[1]!r}", hint(ref[1], params)), None
        elif root == "tasks" and ref[1] not in tasks:
            yield ("ref.unknown-task", f"unknown task {ref[1]!r}", hint(ref[1], tasks)), None


def _check_hooks(hooks: Any, tasks: dict[str, Any], at: Callable[..., Origin]) -> Iterator[Diagnostic]:
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


def _subflow_cycles(flows: dict[str, Any], locate: Locate) -> Iterator[Diagnostic]:
    calls = {n: {t.subflow.flow for t in f.spec.tasks if t.subflow is not None} for n, f in flows.items()}
    cycle = find_cycle(calls)
    if cycle:
        yield Diagnostic(
            "graph.cycle",
            "flows call each other as subflows in a cycle: " + " -> ".join(cycle),
            locate("Flow", cycle[0], ("spec", "tasks")),
        )


# --- parameters ------------------------------------------------------------------------

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


def _check_param_default(name: str, p: Any, where: Callable[[], Origin]) -> Iterator[Diagnostic]:
    if p.default is None:
        return
    if not matches_type(p.default, p.type):
        yield Diagnostic(
            "param.default-type", f"default of parameter {name!r} is {type(p.default).__name__}, not {p.type}", where()
        )
    if p.enum is not None and p.default not in p.enum:
        yield Diagnostic("param.default-type", f"default of parameter {name!r} is not one of {p.enum}", where())


def _check_values(
    params: dict[str, Any], given: dict[str, Any], where: Callable[..., Origin], context: str
) -> Iterator[Diagnostic]:
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


# --- deployments -----------------------------------------------------------------------


def check_deployment(dep: Any, by_kind: dict[str, dict[str, Any]], locate: Locate) -> Iterator[Diagnostic]:
    name, spec = dep.metadata.name, dep.spec

    def at(*path: Any, key: bool = False) -> Origin:
        return locate("Deployment", name, ("spec", *path), key=key)

    flows = by_kind.get("Flow", {})
    flow = flows.get(spec.flow) if spec.flow else None
    if spec.flow and flow is None:
        yield Diagnostic(
            "ref.unknown-flow", f"deployment uses unknown flow {spec.flow!r}", at("flow"), hint=hint(spec.flow, flows)
        )
    envs = by_kind.get("Environment", {})
    if spec.environment and spec.environment not in envs:
        yield Diagnostic(
            "ref.unknown-environment",
            f"unknown Environment {spec.environment!r}",
            at("environment"),
            hint=hint(spec.environment, envs),
        )
    pools = by_kind.get("WorkPool", {})
    if spec.work_pool and spec.work_pool.name not in pools:
        yield Diagnostic(
            "ref.unknown-pool",
            f"work pool {spec.work_pool.name!r} is not declared here; it must already exist on the server",
            at("work_pool", "name"),
            severity="warning",
            hint=hint(spec.work_pool.name, pools),
        )
    elif (
        spec.work_pool
        and spec.work_pool.queue not in (None, "default")
        and not isinstance(pools[spec.work_pool.name], Invalid)
    ):
        queues = {q.name for q in pools[spec.work_pool.name].spec.queues}
        if spec.work_pool.queue not in queues:
            yield Diagnostic(
                "ref.unknown-queue",
                f"work pool {spec.work_pool.name!r} declares no queue {spec.work_pool.queue!r}",
                at("work_pool", "queue"),
                hint=hint(spec.work_pool.queue, queues),
            )
    slugs: set[str] = set()
    for i, s in enumerate(spec.schedules):
        if s.slug is not None:
            if s.slug in slugs:
                yield Diagnostic(
                    "name.duplicate", f"schedule slug {s.slug!r} is used twice", at("schedules", i, "slug")
                )
            slugs.add(s.slug)
        error = schedule_error(s.cron, s.interval, s.rrule, s.timezone, s.day_or)
        if error:
            field = "cron" if s.cron is not None else "interval" if s.interval is not None else "rrule"
            if "timezone" in error.lower() and s.timezone:
                field = "timezone"
            yield Diagnostic("schedule.invalid", error, at("schedules", i, field))
    if flow is not None and not isinstance(flow, Invalid):
        params = flow.spec.parameters
        yield from _check_values(
            params, spec.parameters, lambda k, key=False: at("parameters", k, key=key), "the deployment"
        )
        for i, s in enumerate(spec.schedules):
            yield from _check_values(
                params,
                s.parameters,
                lambda k, key=False, _i=i: at("schedules", _i, "parameters", k, key=key),
                f"schedule {i}",
            )
        for pname, p in params.items():
            if not p.required or p.default is not None or pname in spec.parameters:
                continue
            missing = [i for i, s in enumerate(spec.schedules) if pname not in s.parameters]
            if missing or not spec.schedules:
                yield Diagnostic(
                    "param.missing-required",
                    f"required parameter {pname!r} of flow {flow.metadata.name!r} has no value in the deployment",
                    at("parameters"),
                    severity="warning" if not spec.schedules else "error",
                )


# --- automations -----------------------------------------------------------------------


def deployment_flow_name(spec: Any) -> str:
    """The Prefect flow name of a Deployment document's spec (its address is FLOW/NAME)."""
    if spec.flow:
        return str(spec.flow)
    if spec.flow_name:
        return str(spec.flow_name)
    from .flow_names import default_name, function_of

    name: str = spec._entrypoint_flow_name or default_name(function_of(spec.entrypoint))
    return name


def check_automation(auto: Any, by_kind: dict[str, dict[str, Any]], locate: Locate) -> Iterator[Diagnostic]:
    """Deployment references of actions: a bare name must be a Deployment document; a
    'FLOW/NAME' not declared here must already exist on the server (a warning)."""
    name, spec = auto.metadata.name, auto.spec
    deployments = by_kind.get("Deployment", {})
    addresses = {f"{deployment_flow_name(d.spec)}/{n}" for n, d in deployments.items() if not isinstance(d, Invalid)}
    for field in ("actions", "actions_on_trigger", "actions_on_resolve"):
        for i, action in enumerate(getattr(spec, field)):
            ref = getattr(action, "deployment", None)
            if ref is None:
                continue
            where = locate("Automation", name, ("spec", field, i, "deployment"))
            if "/" not in ref and ref not in deployments:
                yield Diagnostic(
                    "ref.unknown-deployment",
                    f"{ref!r} is not a Deployment document (use 'flow/deployment' for one that only exists on the server)",
                    where,
                    hint=hint(ref, deployments),
                )
            elif "/" in ref and ref not in addresses and not any(isinstance(d, Invalid) for d in deployments.values()):
                yield Diagnostic(
                    "ref.unknown-deployment",
                    f"deployment {ref!r} is not declared here; it must already exist on the server",
                    where,
                    severity="warning",
                    hint=hint(ref, addresses),
                )


@lru_cache(maxsize=1024)
def schedule_error(
    cron: str | None, interval: float | None, rrule: str | None, timezone: str | None, day_or: bool | None
) -> str | None:
    """Validate with Prefect's own schedule classes (imported lazily: they pull in Prefect,
    about 1 s). A schedule found valid is remembered in pipeform's disk cache, so a project
    whose schedules did not change loads without importing Prefect."""
    key = (cron, interval, rrule, timezone, day_or, diskcache.versions("prefect", "pydantic", "tzdata"))
    if diskcache.get("schedules", key) == "valid":
        return None
    error = _schedule_error(cron, interval, rrule, timezone, day_or)
    if error is None:  # only successes: an error is reported again, with Prefect's message
        diskcache.put("schedules", key, "valid")
    return error


def _schedule_error(
    cron: str | None, interval: float | None, rrule: str | None, timezone: str | None, day_or: bool | None
) -> str | None:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
    from pydantic import ValidationError

    try:
        if cron is not None:
            CronSchedule(cron=cron, timezone=timezone, **({"day_or": day_or} if day_or is not None else {}))
        elif interval is not None:
            IntervalSchedule.model_validate(
                {"interval": interval, "timezone": timezone}
            )  # seconds, as Prefect takes them
        elif rrule is not None:
            RRuleSchedule(rrule=rrule, timezone=timezone)
    except ValidationError as exc:
        return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
    except Exception as exc:  # Prefect raises plain ValueErrors from some validators
        return str(exc).splitlines()[0]
    return None
