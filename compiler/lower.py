"""Spec models -> IR: merge options (task > flow task_defaults > project defaults),
expand retry backoff, find data dependencies, order the DAG. Pure; no Prefect."""

from __future__ import annotations

import random
from typing import Any

from pipeform.spec import expressions as ex
from pipeform.spec.checks import find_cycle, task_references
from pipeform.spec.models.options import ExponentialBackoff, TaskOptions
from pipeform.spec.project import Project

from .ir import CacheIR, FlowIR, FlowOptionsIR, HookIR, ParamIR, TaskIR, TaskOptionsIR
from .params import param_schema

MAX_RETRY_DELAYS = 50  # Prefect accepts at most 50 explicit delays


class CompileError(ValueError):
    pass


def _merge(*layers: TaskOptions | None) -> dict[str, Any]:
    """Fields set explicitly in earlier layers win; tags add up."""
    merged: dict[str, Any] = {}
    tags: list[str] = []
    for layer in layers:
        if layer is None:
            continue
        for key in layer.model_fields_set & set(TaskOptions.model_fields):
            if key == "tags":
                tags.extend(t for t in layer.tags if t not in tags)
            else:
                merged.setdefault(key, getattr(layer, key))
    merged["tags"] = tags
    return merged


def retry_delays(delay: Any, retries: int) -> tuple[tuple[float, ...], float | None]:
    if delay is None or retries == 0:
        return (), None
    if isinstance(delay, ExponentialBackoff):
        count = min(retries, MAX_RETRY_DELAYS)
        values = [delay.base_seconds * delay.factor**i for i in range(count)]
        if delay.max_seconds is not None:
            values = [min(v, delay.max_seconds) for v in values]
        return tuple(values), delay.jitter_factor
    if isinstance(delay, list):
        return tuple(float(d) for d in delay[:MAX_RETRY_DELAYS]), None
    return (float(delay),) * min(retries, MAX_RETRY_DELAYS), None


def _task_options(o: dict[str, Any]) -> TaskOptionsIR:
    retries = o.get("retries") or 0
    delays, jitter = retry_delays(o.get("retry_delay_seconds"), retries)
    cache = o.get("cache")
    conc = o.get("concurrency")
    return TaskOptionsIR(
        retries=retries,
        retry_delays=delays,
        retry_jitter_factor=jitter,
        retry_on=tuple(o.get("retry_on") or ()),
        timeout_seconds=o.get("timeout_seconds"),
        cache=None
        if cache is None
        else CacheIR(
            tuple(cache.policy if isinstance(cache.policy, list) else [cache.policy]),
            tuple(cache.exclude_inputs),
            cache.expiration_seconds,
            cache.refresh,
        ),
        persist_result=o.get("persist_result"),
        result_storage=o.get("result_storage"),
        result_serializer=o.get("result_serializer"),
        log_prints=o.get("log_prints"),
        tags=tuple(o.get("tags") or ()),
        version=o.get("version"),
        run_name=o.get("run_name"),
        limits=tuple(conc.limits) if conc else (),
        occupy=conc.occupy if conc else 1,
        rate_limits=tuple(conc.rate_limit) if conc else (),
        limit_timeout_seconds=conc.timeout_seconds if conc else None,
        continue_on_failure=bool(o.get("continue_on_failure")),
    )


def _hooks(hooks: Any) -> tuple[HookIR, ...]:
    if hooks is None:
        return ()
    return tuple(
        HookIR(event, h.task, h.shell, h.python)
        for event in ("on_failure", "on_completion")
        for h in getattr(hooks, event)
    )


def _data_deps(task: Any) -> frozenset[str]:
    deps: set[str] = set()
    for _, expr in task_references(task):
        if isinstance(expr, ex.Expr):
            deps.update(ref[1] for ref in ex.references(expr.source) if len(ref) > 1 and ref[0] == "tasks")
    return frozenset(deps)


def _topological(tasks: list[TaskIR]) -> tuple[TaskIR, ...]:
    deps = {t.name: set(t.deps) for t in tasks}
    cycle = find_cycle(deps)
    if cycle:
        raise CompileError("tasks depend on each other in a cycle: " + " -> ".join(cycle))
    done: list[TaskIR] = []
    seen: set[str] = set()
    pending = list(tasks)
    while pending:  # stable: keeps the written order among independent tasks
        for t in pending:
            if t.deps <= seen:
                done.append(t)
                seen.add(t.name)
                pending.remove(t)
                break
    return tuple(done)


def lower(project: Project, flow_name: str) -> FlowIR:
    try:
        flow = project.flows[flow_name]
    except KeyError:
        raise CompileError(
            f"no Flow named {flow_name!r}; flows: {', '.join(sorted(project.flows)) or 'none'}"
        ) from None
    spec = project.flows[flow_name].spec
    tasks = []
    for i, t in enumerate(spec.tasks):
        opts = _merge(t, spec.task_defaults, project.defaults.task)
        target = {
            "python": t.python,
            "shell": t.shell,
            "subflow": t.subflow.flow if t.subflow else None,
            "deployment": t.deployment,
            "approval": t.approval,
        }[t.action]
        tasks.append(
            TaskIR(
                name=t.name,
                action=t.action,
                target=target,
                inputs=tuple(t.inputs.items()),
                mapped=tuple(t.map.items()),
                data_deps=_data_deps(t),
                order_deps=frozenset(t.depends_on),
                when=t.when,
                options=_task_options(opts),
                hooks=_hooks(t.hooks),
                description=t.description,
                source=("Flow", flow_name, ("spec", "tasks", i)),
            )
        )
    fd = project.defaults.flow

    def pick(key: str) -> Any:
        value = getattr(spec, key)
        return value if value is not None else getattr(fd, key, None)

    runner = spec.task_runner or fd.task_runner
    options = FlowOptionsIR(
        retries=pick("retries"),
        retry_delay_seconds=spec.retry_delay_seconds
        if spec.retry_delay_seconds is not None
        else _flow_delay(fd.retry_delay_seconds),
        timeout_seconds=pick("timeout_seconds"),
        persist_result=pick("persist_result"),
        result_storage=pick("result_storage"),
        result_serializer=pick("result_serializer"),
        log_prints=pick("log_prints"),
        tags=tuple(dict.fromkeys([*fd.tags, *spec.tags])),
        version=pick("version"),
        run_name=pick("run_name"),
        validate_parameters=pick("validate_parameters"),
        task_runner=tuple(sorted(runner.model_dump().items())) if runner else None,
    )
    params = tuple(
        ParamIR(n, tuple(sorted(param_schema(p).items())), p.default, p.required and p.default is None)
        for n, p in spec.parameters.items()
    )
    return FlowIR(
        name=flow_name,
        description=flow.metadata.description,
        params=params,
        tasks=_topological(tasks),
        options=options,
        hooks=_hooks(spec.hooks),
        returns=spec.returns,
        root=project.root,
        source=("Flow", flow_name, ()),
    )


def _flow_delay(delay: Any) -> float | None:
    return float(delay) if isinstance(delay, int | float) else None


_ = random
