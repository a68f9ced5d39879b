"""Writes the options of a task or flow: the keyword arguments of `task(...)` and
`@flow(...)` (compiler.options.task_keywords/flow_keywords, the mapping build.py uses too)
as code: run-name functions, hooks, cache policies, storage and task runner constructors."""

from __future__ import annotations

import re
from typing import Any

from pipeform.spec import expressions as ex

from .. import options
from ..ir import CacheIR, HookIR, PythonCall, TaskIR
from . import tasks
from .expr import Refs, value
from .scope import Emitter, Unsupported
from .text import Group, call, indented, interpolate, layout, literal, string


def constructor(e: Emitter, c: options.Constructor | str) -> Any:
    """An options.Constructor as a call (a plain string as a string literal)."""
    if isinstance(c, str):
        return string(c)

    def arg(v: Any) -> Any:
        if isinstance(v, options.HomePath):
            return f"{e.use('os.path', 'expanduser')}({string(v.path)})"
        return literal(v)

    return call(e.use(c.module, c.name), **{k: arg(v) for k, v in c.kwargs})


def cache_policy(e: Emitter, cache: CacheIR) -> str:
    policy = " + ".join(e.use(options.CACHE_POLICY_MODULE, options.CACHE_POLICIES[p]) for p in cache.policies)
    policy += "".join(f" - {string(k)}" for k in cache.exclude_inputs)
    if cache.key_storage:
        policy = f"({policy}).configure(key_storage={string(cache.key_storage)})"
    return policy


def task_options(e: Emitter, node: TaskIR) -> dict[str, Any]:
    return {k: _option(e, k, v, node) for k, v in options.task_keywords(node).items()}


def flow_options(e: Emitter) -> dict[str, Any]:
    kw = options.flow_keywords(e.ir)
    kw.pop("description", None)  # written as the function's docstring, which Prefect reads as the description
    return {k: _option(e, k, v, None) for k, v in kw.items()}


def _option(e: Emitter, key: str, value: Any, node: TaskIR | None) -> Any:
    """One keyword argument of compiler.options.task_keywords/flow_keywords as code."""
    match value:
        case options.RetryOn(names=names):
            return call(e.helper("retry_on"), *(string(n) for n in names))
        case CacheIR():
            return cache_policy(e, value)
        case options.Duration(seconds=seconds):
            return f"{e.use('datetime', 'timedelta')}(seconds={seconds!r})"
        case options.RunName(template=template):
            return run_name(e, node, template)
        case options.Constructor():
            return constructor(e, value)
        case options.Hooks(hooks=hooks):
            return Group("[", [[h] for h in _hooks(e, hooks, node)], "]")
        case tuple() if key == "retry_delay_seconds" and len(set(value)) == 1:
            return repr(value[0])  # the same delay for every retry: one number, as people write it
    return literal(value)


def _hooks(e: Emitter, hooks: tuple[HookIR, ...], node: TaskIR | None) -> list[str]:
    if node is not None:
        return [hook(e, h, node) for h in hooks]
    out = []
    for h in hooks:  # a flow's hook that cannot be written is refused at the flow's hooks
        try:
            out.append(hook(e, h, None))
        except Unsupported as exc:
            e.refuse(None, str(exc), ("spec", "hooks"))
    return out


def run_name(e: Emitter, node: TaskIR | None, template: str) -> str:
    """A run-name template: a format string when it only names str-like parameters, else a function."""
    parts = ex.split(template, ex.RUN_TIME)
    names = [p.source for p in parts if isinstance(p, ex.Expr)]
    simple = [re.fullmatch(r"params\.(\w+)", n) for n in names]
    if node is None and all(simple) and all(e.text(n, "x") == "x" for n in names):
        it = iter(m.group(1) for m in simple if m)
        return interpolate([(False, p) if isinstance(p, str) else (True, next(it)) for p in parts], "")
    fn = e.fresh(f"{node.name if node else e.flow_fn}_run_name")
    rt = e.use("prefect", "runtime")
    code = value(template, Refs(e, "task_name" if node else "flow_name"))
    local = "inputs" if node else "params"
    where = "task_run" if node else "flow_run"
    ret = indented(layout(["return ", code], 4))
    e.defs.append(f"def {fn}() -> str:\n    {local} = {rt}.{where}.parameters\n{ret}")
    return fn


def hook(e: Emitter, h: HookIR, node: TaskIR | None) -> str:
    if h.python:
        return e.callable(h.python)
    owner = node.name if node else e.flow_fn
    fn = e.fresh(f"{owner}_{h.event}")
    if h.shell:
        run = e.use("subprocess", "") + ".run"
        body = indented(layout([call(run, literal(["/bin/sh", "-c", h.shell]), check="False")], 4))
        e.defs.append(f'def {fn}(obj, run, state) -> None:\n    """{h.event}: a shell command."""\n{body}')
        return fn
    assert h.task is not None
    target = e.ir.task(h.task)
    if not isinstance(target.action, PythonCall) or target.options.limits or target.options.rate_limits:
        raise Unsupported(f"hook task {target.name!r}: only a python task without limits can run as a hook")
    refs = Refs(e, "hook")
    kwargs = {k: value(v, refs) for k, v in target.inputs}
    rt = e.use("prefect", "runtime")
    e.defs.append(
        f'def {fn}(obj, run, state) -> None:\n    """{h.event}: run task {target.name!r} with the flow\'s parameters."""\n'
        f'    params = getattr(run, "parameters", None) or {rt}.flow_run.parameters or {{}}\n'
        + indented(layout([call(tasks.task_object(e, target), **kwargs)], 4))
    )
    return fn
