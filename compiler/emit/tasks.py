"""Writes the module-level task objects: `name = task(callable, options)`, or a small
`@task` wrapper when an argument computes on upstream results inside the task (the
in-memory flow's deferred arguments) or a concurrency limit is held around the call."""

from __future__ import annotations

import keyword
from typing import Any

from ..ir import TaskIR
from ..plan import Arg, Deferred, Nested, Now, Step
from . import options
from .expr import Refs, value
from .scope import Emitter, Unsupported
from .text import call, indented, layout, literal


def computes_inside(arg: Arg) -> bool:
    """Is the argument computed from upstream results (not exactly one whole result)?"""
    if isinstance(arg, Nested):
        return any(not isinstance(a, Now) for _, a in arg.items)
    return isinstance(arg, Deferred)


def mapped_local(e: Emitter, k: str) -> str:
    """The wrapper's parameter for a mapped keyword (renamed when a body name has it)."""
    return k if k not in e.var.values() and k not in e.param_names else f"{k}_item"


def task_object(e: Emitter, node: TaskIR) -> str:
    """Define the module-level task of a node (once); its name."""
    if node.name in e.objects:
        return e.objects[node.name]
    name = e.objects[node.name] = e.fresh(f"{node.name}_task")
    step = e.plan.step(node.name)
    assert step.callee is not None
    fn = e.callee(step.callee)
    o = node.options
    wrap = bool(o.limits or o.rate_limits) or any(computes_inside(a) for _, a in step.args)
    if o.cache and o.cache.exclude_inputs and wrap:
        raise Unsupported("cache.exclude_inputs names the callable's inputs, which a wrapped task does not take")
    if o.run_name and wrap and "$[" in o.run_name:
        raise Unsupported("a run_name reading inputs needs the callable's own inputs; this task is wrapped")
    opts = options.task_options(e, node)
    if not wrap:
        e.defs.append(layout([f"{name} = ", call(e.use("prefect", "task"), fn, **opts)], 0))
        e.wrappers[node.name] = None
        return name
    e.wrappers[node.name] = _wrapper(e, step, name, fn, opts)
    return name


def _wrapper(e: Emitter, step: Step, name: str, fn: str, opts: dict[str, Any]) -> list[str]:
    """A @task function computing its arguments from the results it receives; its parameters."""
    refs = Refs(e, "wrapper")
    mapped = {k: mapped_local(e, k) for k, _ in step.mapped}
    kwargs: dict[str, Any] = {k: value(a.value, refs) for k, a in step.args}
    kwargs |= mapped
    body = call(fn, **{k: v for k, v in kwargs.items() if k.isidentifier() and not keyword.iskeyword(k)})
    params = [*refs.used, *mapped.values()]
    lines = [layout(["@", call(e.use("prefect", "task"), **opts)], 0), f"def {name}({', '.join(params)}):"]
    o = step.node.options
    extra = {"occupy": str(o.occupy)} if o.occupy != 1 else {}
    if o.limit_timeout_seconds is not None:
        extra["timeout_seconds"] = repr(o.limit_timeout_seconds)
    indent = 4
    if o.rate_limits:
        rl = e.use("prefect.concurrency.sync", "rate_limit")
        lines.append(indented(layout([call(rl, literal(list(o.rate_limits)), **extra)], 4)))
    if o.limits:
        cc = e.use("prefect.concurrency.sync", "concurrency")
        lines.append(indented(layout(["with ", call(cc, literal(list(o.limits)), **extra)], 4, ":") + ":"))
        indent = 8
    lines.append(indented(layout(["return ", body], indent), indent))
    e.defs.append("\n".join(lines))
    return list(refs.used)
