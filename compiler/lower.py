"""Spec models -> IR: merge options (task > flow task_defaults > project defaults), expand
retry backoff into explicit delays, resolve references (data dependencies, deployment
names, hook tasks), order the DAG. Pure: no Prefect. Problems are located Diagnostics."""

from __future__ import annotations

from typing import Any

from pipeform.spec import expressions as ex
from pipeform.spec.check_expressions import task_references
from pipeform.spec.check_flows import find_cycle
from pipeform.spec.diagnostics import Diagnostic, SpecError
from pipeform.spec.flow_names import deployment_flow_name
from pipeform.spec.models.block import is_local_path, local_storage_name
from pipeform.spec.models.flow import FlowSpec, Task
from pipeform.spec.models.options import (
    DaskRunner,
    ExponentialBackoff,
    ProcessPoolRunner,
    RayRunner,
    TaskOptions,
    ThreadPoolRunner,
)
from pipeform.spec.project import Project

from .ir import (
    Action,
    Approval,
    ApprovalField,
    BlockStorage,
    CacheIR,
    Dask,
    DeploymentRun,
    FlowIR,
    FlowOptionsIR,
    HookIR,
    ParamIR,
    ProcessPool,
    PythonCall,
    Ray,
    ShellCommand,
    SourceRef,
    Storage,
    SubflowCall,
    TaskIR,
    TaskOptionsIR,
    TaskRunnerIR,
    ThreadPool,
)

MAX_RETRY_DELAYS = 50  # Prefect accepts at most 50 explicit delays


class CompileError(SpecError, ValueError):
    """Raised with every Diagnostic found while compiling (codes `compile.*`, `import.*`)."""


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
    """(one delay per retry, jitter factor). Exponential: min(max, base * factor**i), at most 50."""
    if delay is None or retries == 0:
        return (), None
    count = min(retries, MAX_RETRY_DELAYS)
    if isinstance(delay, ExponentialBackoff):
        values = [delay.base_seconds * delay.factor**i for i in range(count)]
        if delay.max_seconds is not None:
            values = [min(v, delay.max_seconds) for v in values]
        return tuple(float(v) for v in values), delay.jitter_factor
    if isinstance(delay, list):
        return tuple(float(d) for d in delay[:MAX_RETRY_DELAYS]), None
    return (float(delay),) * count, None


def _task_options(o: dict[str, Any], project: Project) -> TaskOptionsIR:
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
            cache.key_storage,
        ),
        persist_result=o.get("persist_result"),
        result_storage=storage(project, o.get("result_storage")),
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


def topological(tasks: list[TaskIR]) -> tuple[TaskIR, ...] | list[str]:
    """Tasks in dependency order (the written order among independent ones, tasks that run
    in the flow body last so everything that can be submitted first is); or a cycle."""
    # A dependency outside `tasks` (a hook's task) is refused by lower itself: not waited for here.
    known = {t.name for t in tasks}
    needs = {t.name: t.deps & known for t in tasks}
    done: list[TaskIR] = []
    seen: set[str] = set()
    pending = list(tasks)
    while pending:
        ready = [t for t in pending if needs[t.name] <= seen]
        if not ready:  # only a cycle leaves nothing ready; find_cycle names it (only then: it costs)
            cycle = find_cycle({n: set(d) for n, d in needs.items()})
            assert cycle is not None
            return cycle
        t = next((t for t in ready if not t.runs_in_flow), ready[0])
        done.append(t)
        seen.add(t.name)
        pending.remove(t)
    return tuple(done)


def _deployment_name(project: Project, name: str) -> str:
    """A Deployment document name becomes Prefect's 'flow-name/deployment-name'."""
    doc = project.deployments.get(name)
    if doc is None or "/" in name:
        return name
    s = doc.spec
    return f"{deployment_flow_name(s)}/{name}"


def _action(project: Project, t: Task) -> Action:
    """The task's one action (the spec model checks there is exactly one)."""
    if t.python is not None:
        return PythonCall(t.python)
    if isinstance(t.shell, str):
        return ShellCommand(t.shell)
    if t.shell is not None:
        s = t.shell
        return ShellCommand(s.command, tuple(s.env.items()), s.cwd, s.capture, s.stream_output)
    if t.subflow is not None:
        return SubflowCall(t.subflow.flow)
    if t.deployment is not None:
        d = t.deployment
        return DeploymentRun(
            _deployment_name(project, d.name), d.wait, d.timeout_seconds, tuple(d.job_variables.items())
        )
    a = t.approval
    assert a is not None
    fields = tuple((k, ApprovalField(f.type, f.description, f.default)) for k, f in a.inputs.items())
    return Approval(a.message, a.timeout_seconds, fields)


def storage(project: Project, value: str | None) -> Storage | None:
    """Always a saved block, by Prefect's 'TYPE/NAME' slug (Prefect refuses an unsaved
    storage block): a path (/, ., ~) is the LocalFileSystem block pipeform keeps for it
    (made by apply, kinds/block.py), a bare name a Block document, 'TYPE.NAME' as 'TYPE/NAME'."""
    if value is None:
        return None
    if is_local_path(value):
        return BlockStorage(f"local-file-system/{local_storage_name(project.name, value)}")
    if "/" in value or "." in value:
        return BlockStorage(value.replace(".", "/", 1) if "/" not in value else value)
    doc = project.of_kind("Block").get(value)
    return BlockStorage(f"{doc.spec.type}/{value}" if doc else value)


def task_runner(spec: Any) -> TaskRunnerIR | None:
    match spec:
        case None:
            return None
        case ThreadPoolRunner():
            return ThreadPool(spec.max_workers)
        case ProcessPoolRunner():
            return ProcessPool(spec.max_workers)
        case DaskRunner():
            return Dask(spec.address, spec.cluster_class, tuple(spec.cluster_kwargs.items()))
        case RayRunner():
            return Ray(spec.address)
    raise TypeError(f"unknown task runner {spec!r}")


def _task(project: Project, spec: FlowSpec, t: Task, source: SourceRef) -> TaskIR:
    return TaskIR(
        name=t.name,
        action=_action(project, t),
        inputs=tuple(t.inputs.items()),
        mapped=tuple(t.map.items()),
        data_deps=_data_deps(t),
        order_deps=frozenset(t.depends_on),
        when=t.when,
        options=_task_options(_merge(t, spec.task_defaults, project.defaults.task), project),
        hooks=_hooks(t.hooks),
        description=t.description,
        source=source,
    )


def lower(project: Project, flow_name: str) -> FlowIR:
    """The IR of one Flow document. Raises CompileError with located diagnostics."""
    flow = project.flows.get(flow_name)
    if flow is None:
        raise CompileError(
            [
                Diagnostic(
                    "compile.unknown-flow",
                    f"no Flow named {flow_name!r}; flows: {', '.join(sorted(project.flows)) or 'none'}",
                )
            ]
        )
    spec = flow.spec
    hook_task_names = {h.task for t in spec.tasks for h in _hooks(t.hooks)} | {h.task for h in _hooks(spec.hooks)}
    tasks: list[TaskIR] = []
    hook_tasks: list[TaskIR] = []
    diagnostics: list[Diagnostic] = []
    for i, t in enumerate(spec.tasks):
        node = _task(project, spec, t, ("Flow", flow_name, ("spec", "tasks", i)))
        (hook_tasks if t.name in hook_task_names else tasks).append(node)
    for node in tasks:
        for used in sorted(node.deps & hook_task_names):
            diagnostics.append(
                Diagnostic(
                    "compile.hook-task-used",
                    f"task {node.name!r} uses {used!r}, which a hook runs; a hook's task runs only as that hook",
                    project.origin(*node.source) if node.source else None,
                    hint="declare a separate task for the hook",
                )
            )
    ordered = topological(tasks)
    if isinstance(ordered, list):
        diagnostics.append(
            Diagnostic(
                "compile.cycle",
                "tasks depend on each other in a cycle: " + " -> ".join(ordered),
                project.origin("Flow", flow_name, ("spec", "tasks")),
            )
        )
    if diagnostics or isinstance(ordered, list):
        raise CompileError(diagnostics)
    return FlowIR(
        name=flow_name,
        description=flow.metadata.description,
        params=tuple(ParamIR(n, p, p.default, p.required and p.default is None) for n, p in spec.parameters.items()),
        tasks=ordered,
        options=_flow_options(project, spec),
        hooks=_hooks(spec.hooks),
        returns=spec.returns,
        root=project.root,
        hook_tasks=tuple(hook_tasks),
        source=("Flow", flow_name, ()),
    )


def _flow_options(project: Project, spec: FlowSpec) -> FlowOptionsIR:
    fd = project.defaults.flow

    def pick(key: str) -> Any:
        value = getattr(spec, key)
        return value if value is not None else getattr(fd, key, None)

    runner = spec.task_runner or fd.task_runner
    delay = spec.retry_delay_seconds if spec.retry_delay_seconds is not None else fd.retry_delay_seconds
    return FlowOptionsIR(
        retries=pick("retries"),
        retry_delay_seconds=float(delay) if isinstance(delay, int | float) else None,  # flows take a number only
        timeout_seconds=pick("timeout_seconds"),
        persist_result=pick("persist_result"),
        result_storage=storage(project, pick("result_storage")),
        result_serializer=pick("result_serializer"),
        log_prints=pick("log_prints"),
        tags=tuple(dict.fromkeys([*fd.tags, *spec.tags])),
        version=pick("version"),
        run_name=pick("run_name"),
        validate_parameters=pick("validate_parameters"),
        task_runner=task_runner(runner),
    )
