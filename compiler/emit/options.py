"""Writes the options of a task or flow: the keyword arguments of `task(...)` and
`@flow(...)`, run-name functions, hooks, storage and task runner constructors."""

from __future__ import annotations

import re
from typing import Any

from pipeform.spec import expressions as ex

from .. import options
from ..ir import HookIR, PythonCall, Storage, TaskIR
from . import tasks
from .expr import Refs, value
from .scope import Emitter, Unsupported
from .text import Group, call, indented, interpolate, layout, literal, string

EVENTS = ("on_failure", "on_completion")


def constructor(e: Emitter, c: options.Constructor | str) -> Any:
    """An options.Constructor as a call (a plain string as a string literal)."""
    if isinstance(c, str):
        return string(c)

    def arg(v: Any) -> Any:
        if isinstance(v, options.HomePath):
            return f"{e.use('os.path', 'expanduser')}({string(v.path)})"
        return literal(v)

    return call(e.use(c.module, c.name), **{k: arg(v) for k, v in c.kwargs})


def storage(e: Emitter, s: Storage) -> Any:
    return constructor(e, options.result_storage(s))


def _cache(e: Emitter, node: TaskIR, kw: dict[str, Any]) -> None:
    cache = node.options.cache
    if cache is None:
        return
    policy = " + ".join(e.use(options.CACHE_POLICY_MODULE, options.CACHE_POLICIES[p]) for p in cache.policies)
    policy += "".join(f" - {string(k)}" for k in cache.exclude_inputs)
    if cache.key_storage:
        policy = f"({policy}).configure(key_storage={string(cache.key_storage)})"
    kw["cache_policy"] = policy
    if cache.refresh:
        kw["refresh_cache"] = "True"
    if cache.expiration_seconds:
        kw["cache_expiration"] = f"{e.use('datetime', 'timedelta')}(seconds={cache.expiration_seconds!r})"


def task_options(e: Emitter, node: TaskIR) -> dict[str, Any]:
    o = node.options
    kw: dict[str, Any] = {"name": string(node.name), "description": node.description and string(node.description)}
    if o.retries:
        kw["retries"] = str(o.retries)
    delays = o.retry_delays
    if delays:
        kw["retry_delay_seconds"] = repr(delays[0]) if len(set(delays)) == 1 else literal(list(delays))
    if o.retry_jitter_factor is not None:
        kw["retry_jitter_factor"] = repr(o.retry_jitter_factor)
    if o.retry_on:
        kw["retry_condition_fn"] = call(e.helper("retry_on"), *(string(n) for n in o.retry_on))
    _cache(e, node, kw)
    for key in ("timeout_seconds", "persist_result", "log_prints"):
        if getattr(o, key) is not None:
            kw[key] = repr(getattr(o, key))
    for key in ("result_serializer", "version"):
        if getattr(o, key) is not None:
            kw[key] = string(getattr(o, key))
    if o.result_storage:
        kw["result_storage"] = storage(e, o.result_storage)
    if o.tags:
        kw["tags"] = literal(list(o.tags))
    if o.run_name:
        kw["task_run_name"] = run_name(e, node, o.run_name)
    for event in EVENTS:
        hooks = [hook(e, h, node) for h in node.hooks if h.event == event]
        if hooks:
            kw[event] = Group("[", [[h] for h in hooks], "]")
    return {k: v for k, v in kw.items() if v is not None}


def flow_options(e: Emitter) -> dict[str, Any]:
    o = e.ir.options
    kw: dict[str, Any] = {"name": string(e.ir.name)}
    for key in ("retries", "retry_delay_seconds", "timeout_seconds", "persist_result", "log_prints"):
        if getattr(o, key) is not None:
            kw[key] = repr(getattr(o, key))
    if o.validate_parameters is not None:
        kw["validate_parameters"] = repr(o.validate_parameters)
    for key in ("result_serializer", "version"):
        if getattr(o, key) is not None:
            kw[key] = string(getattr(o, key))
    if o.result_storage:
        kw["result_storage"] = storage(e, o.result_storage)
    if o.run_name:
        kw["flow_run_name"] = run_name(e, None, o.run_name)
    if o.task_runner:
        kw["task_runner"] = constructor(e, options.task_runner(o.task_runner))
    for event in EVENTS:
        hooks = []
        for h in e.ir.hooks:
            if h.event == event:
                try:
                    hooks.append(hook(e, h, None))
                except Unsupported as exc:
                    e.refuse(None, str(exc), ("spec", "hooks"))
        if hooks:
            kw[event] = Group("[", [[h] for h in hooks], "]")
    return kw


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
