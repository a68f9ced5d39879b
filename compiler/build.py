"""IR -> prefect.Flow. The flow body walks the DAG: each task is submitted to the flow's
task runner as soon as it is reached; arguments that are exactly one upstream result are
passed as futures (so independent tasks run concurrently), other run-time expressions
wait for the results they read."""

from __future__ import annotations

import contextlib
import inspect
import sys
import typing
from functools import partial
from typing import Any

from prefect import Flow, Task, allow_failure, unmapped
from prefect.cache_policies import DEFAULT, FLOW_PARAMETERS, INPUTS, NO_CACHE, RUN_ID, TASK_SOURCE
from prefect.futures import PrefectFuture
from prefect.states import Completed

from pipeform.spec import expressions as ex
from pipeform.spec.project import Project

from .ir import FlowIR, HookIR, TaskIR
from .lower import lower
from .params import parameter_schema
from .runtime import import_callable, run_shell

_POLICIES = {
    "default": DEFAULT,
    "inputs": INPUTS,
    "task_source": TASK_SOURCE,
    "flow_parameters": FLOW_PARAMETERS,
    "run_id": RUN_ID,
    "none": NO_CACHE,
}
_TYPES = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}
SKIPPED = "Skipped"


class _Skip:
    """Result of a task whose `when` was false; tasks that read it are skipped too."""

    def __repr__(self) -> str:
        return "<skipped>"


SKIP = _Skip()


def _cache_policy(cache):
    policy = None
    for name in cache.policies:
        policy = _POLICIES[name] if policy is None else policy + _POLICIES[name]
    for key in cache.exclude_inputs:
        policy = policy - key
    return policy


def _retry_condition(names: tuple[str, ...]):
    def should_retry(task, task_run, state) -> bool:
        exc = state.result(raise_on_failure=False)
        if not isinstance(exc, BaseException):
            return False
        return any(n in (c.__name__, f"{c.__module__}.{c.__name__}") for c in type(exc).__mro__ for n in names)

    return should_retry


def _task_kwargs(node: TaskIR) -> dict[str, Any]:
    o = node.options
    kw: dict[str, Any] = {"name": node.name, "retries": o.retries, "tags": list(o.tags) or None}
    if o.retry_delays:
        kw["retry_delay_seconds"] = list(o.retry_delays)
    if o.retry_jitter_factor is not None:
        kw["retry_jitter_factor"] = o.retry_jitter_factor
    if o.retry_on:
        kw["retry_condition_fn"] = _retry_condition(o.retry_on)
    if o.cache is not None:
        kw["cache_policy"] = _cache_policy(o.cache)
        kw["refresh_cache"] = o.cache.refresh or None
        if o.cache.expiration_seconds:
            from datetime import timedelta

            kw["cache_expiration"] = timedelta(seconds=o.cache.expiration_seconds)
    for key in ("timeout_seconds", "persist_result", "result_storage", "result_serializer", "log_prints", "version"):
        value = getattr(o, key)
        if value is not None:
            kw[key] = value
    if node.description:
        kw["description"] = node.description
    if o.run_name:
        kw["task_run_name"] = _task_run_name(o.run_name)
    return {k: v for k, v in kw.items() if v is not None}


def _task_run_name(template: str):
    parts = ex.split(template, ex.RUN_TIME)

    def name() -> str:
        from prefect.runtime import task_run

        return str(ex.evaluate(parts, {"inputs": task_run.parameters, "params": {}}))

    return name


def _with_limits(fn, node: TaskIR):
    o = node.options
    if not (o.limits or o.rate_limits):
        return fn
    import functools

    from prefect.concurrency.sync import concurrency, rate_limit

    @functools.wraps(fn)
    def limited(*args, **kwargs):
        if o.rate_limits:
            rate_limit(list(o.rate_limits), occupy=o.occupy)
        if o.limits:
            with concurrency(list(o.limits), occupy=o.occupy, timeout_seconds=o.limit_timeout_seconds):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return limited


class _Builder:
    def __init__(self, project: Project, stack: tuple[str, ...] = ()):
        self.project = project
        self.stack = stack
        self.flows: dict[str, Flow] = {}

    def flow(self, name: str) -> Flow:
        if name not in self.flows:
            self.flows[name] = self._build(lower(self.project, name))
        return self.flows[name]

    # -- tasks -----------------------------------------------------------------------

    def prefect_task(self, node: TaskIR) -> Task | None:
        if node.action == "python":
            fn = import_callable(node.target)
        elif node.action == "shell":
            fn = run_shell
        elif node.action == "deployment":
            fn = _run_deployment
        else:
            return None  # subflows and approvals run in the flow itself
        return Task(_with_limits(fn, node), **_task_kwargs(node))

    def hook(self, hook: HookIR, ir: FlowIR):
        def run(obj, run, state) -> None:
            if hook.shell:
                import subprocess

                subprocess.run(["/bin/sh", "-c", hook.shell], check=False)
            elif hook.python:
                import_callable(hook.python)(obj, run, state)
            elif hook.task:
                node = ir.task(hook.task)
                task = self.prefect_task(node)
                fn = task.fn if task is not None else None
                if fn is not None:
                    fn(**{k: v for k, v in node.inputs if not (isinstance(v, str) and "$[" in v)})

        return run

    # -- the flow --------------------------------------------------------------------

    def _build(self, ir: FlowIR) -> Flow:
        if ir.root not in sys.path:
            sys.path.insert(0, ir.root)  # users' own modules live beside their specs
        tasks = {n.name: self.prefect_task(n) for n in ir.tasks}

        def body(**params: Any) -> Any:
            import prefect

            with prefect.tags(*ir.options.tags):  # task runs carry the flow's tags, also on workers
                return self._run(ir, tasks, params)

        body.__signature__ = _signature(ir)  # type: ignore[attr-defined]
        body.__name__ = ir.name.replace("-", "_")
        body.__qualname__ = body.__name__
        body.__doc__ = ir.description
        body.__module__ = "pipeform.compiler.loader"
        o = ir.options
        kw: dict[str, Any] = {"name": ir.name, "description": ir.description}
        for key in (
            "retries",
            "retry_delay_seconds",
            "timeout_seconds",
            "persist_result",
            "result_storage",
            "result_serializer",
            "log_prints",
            "version",
            "validate_parameters",
        ):
            value = getattr(o, key)
            if value is not None:
                kw[key] = value
        if o.run_name:
            kw["flow_run_name"] = _flow_run_name(o.run_name)
        if o.task_runner:
            kw["task_runner"] = _task_runner(dict(o.task_runner))
        failure = [self.hook(h, ir) for h in ir.hooks if h.event == "on_failure"]
        completion = [self.hook(h, ir) for h in ir.hooks if h.event == "on_completion"]
        if failure:
            kw["on_failure"] = failure
        if completion:
            kw["on_completion"] = completion
        flow_class = _tagged_flow_class(o.tags) if o.tags else Flow
        flow = flow_class(body, **{k: v for k, v in kw.items() if v is not None})
        doc = self.project.flows[ir.name]
        from prefect.utilities.callables import ParameterSchema

        flow.parameters = ParameterSchema(**parameter_schema(doc))
        return flow

    def _run(self, ir: FlowIR, tasks: dict[str, Task | None], params: dict[str, Any]) -> Any:
        futures: dict[str, Any] = {}  # name -> PrefectFuture, list of futures, or a plain value
        skipped: set[str] = set()
        for node in ir.tasks:
            if node.data_deps & skipped:
                skipped.add(node.name)
                futures[node.name] = self._skip(node, "an upstream task it reads was skipped")
                continue
            if node.when is not None and not _truthy(self._value(node.when, params, futures, whole_ok=False)):
                skipped.add(node.name)
                futures[node.name] = self._skip(node, f"condition {node.when!r} is false")
                continue
            wait_for = [
                allow_failure(futures[d]) if ir.task(d).options.continue_on_failure else futures[d]
                for d in sorted(node.deps)
                if _is_future(futures.get(d))
            ]
            kwargs = {k: self._value(v, params, futures, whole_ok=True) for k, v in node.inputs}
            target = self._value(_target_dump(node), params, futures, whole_ok=False)
            if node.action == "subflow":
                futures[node.name] = self.flow(node.target)(**_resolved(kwargs))
            elif node.action == "approval":
                futures[node.name] = _approve(node, _resolved(kwargs))
            elif node.mapped:
                mapped = {k: self._value(v, params, futures, whole_ok=False) for k, v in node.mapped}
                args = {**{k: unmapped(v) for k, v in kwargs.items()}, **mapped}
                futures[node.name] = tasks[node.name].map(**_action_args(node, target, args), wait_for=wait_for or None)
            else:
                futures[node.name] = tasks[node.name].submit(
                    **_action_args(node, target, kwargs), wait_for=wait_for or None
                )
        for name, f in futures.items():
            if not ir.task(name).options.continue_on_failure:
                _wait(f)
        if ir.returns is not None:
            return _resolved(self._value(ir.returns, params, futures, whole_ok=False))
        leaves = {n.name for n in ir.tasks} - {d for n in ir.tasks for d in n.deps}
        return {n: _result(futures[n]) for n in sorted(leaves) if n not in skipped}

    def _skip(self, node: TaskIR, why: str) -> _Skip:
        @_skip_task(node.name)
        def skipped() -> Any:
            return Completed(name=SKIPPED, message=f"skipped: {why}")

        skipped()
        return SKIP

    def _value(self, value: Any, params: dict[str, Any], futures: dict[str, Any], whole_ok: bool) -> Any:
        """Resolve $[ ] expressions in a JSON-like value. With whole_ok, a string that is exactly
        `$[ tasks.X.result ]` becomes X's future (Prefect resolves it when the task runs)."""

        def resolve(text: str, _path: tuple) -> Any:
            if "$[" not in text:
                return text
            parts = ex.split(text, ex.RUN_TIME)
            if whole_ok and len(parts) == 1 and isinstance(parts[0], ex.Expr):
                refs = ex.references(parts[0].source)
                if (
                    len(refs) == 1
                    and refs[0][0] == "tasks"
                    and refs[0][2:] == ("result",)
                    and parts[0].source.replace(" ", "") == f"tasks.{refs[0][1]}.result"
                ):
                    return futures[refs[0][1]]
            read = {
                r[1]
                for r in ex.references(" ".join(p.source for p in parts if isinstance(p, ex.Expr)))
                if r[0] == "tasks" and len(r) > 1
            }
            ctx = {"params": params, "tasks": {n: {"result": _result(futures[n])} for n in read}}
            return ex.evaluate(parts, ctx)

        return ex.walk_strings(value, resolve)


def _skip_task(name: str):
    return partial(Task, name=name, cache_policy=NO_CACHE)


def _is_future(value: Any) -> bool:
    return isinstance(value, PrefectFuture) or (
        isinstance(value, list) and any(isinstance(v, PrefectFuture) for v in value)
    )


def _wait(value: Any) -> None:
    if isinstance(value, PrefectFuture):
        value.wait()
    elif isinstance(value, list):
        for v in value:
            _wait(v)


def _result(value: Any) -> Any:
    if isinstance(value, PrefectFuture):
        return value.result()
    if isinstance(value, list) and any(isinstance(v, PrefectFuture) for v in value):
        return [_result(v) for v in value]
    return value


def _resolved(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    return _result(value)


def _truthy(value: Any) -> bool:
    return bool(_result(value))


def _target_dump(node: TaskIR) -> Any:
    """The action's own settings as plain data, so $[ ] inside commands resolve too."""
    if node.action == "shell":
        shell = node.target
        return {"command": shell} if isinstance(shell, str) else shell.model_dump()
    if node.action == "deployment":
        return node.target.model_dump()
    return None


def _action_args(node: TaskIR, target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    if node.action == "shell":
        return {
            "command": target["command"],
            "env": {k: str(v) for k, v in (target.get("env") or {}).items()} or None,
            "cwd": target.get("cwd"),
            "capture": target.get("capture", "stdout"),
            "stream": target.get("stream_output", True),
            **kwargs,
        }
    if node.action == "deployment":
        name = target["name"]
        return {
            "name": name,
            "wait": target["wait"],
            "timeout": target["timeout_seconds"],
            "job_variables": target["job_variables"],
            "parameters": kwargs,
        }
    return kwargs


def _run_deployment(name: str, wait: bool, timeout: float | None, job_variables: dict, parameters: dict) -> Any:
    from prefect.deployments import run_deployment

    run = run_deployment(
        name, parameters=parameters or None, timeout=(timeout if wait else 0), job_variables=job_variables or None
    )
    if wait and (run.state is None or not run.state.is_completed()):
        raise RuntimeError(f"deployment run {run.name} ended {run.state.name if run.state else 'unknown'}")
    return str(run.id)


def _approve(node: TaskIR, kwargs: dict[str, Any]) -> Any:
    from prefect import get_run_logger
    from prefect.flow_runs import pause_flow_run
    from prefect.input import RunInput
    from pydantic import create_model

    approval = node.target
    if approval.message:
        get_run_logger().info("waiting for approval: %s", approval.message)
    if not approval.inputs:
        pause_flow_run(timeout=int(approval.timeout_seconds))
        return {"approved": True}
    fields = {k: (_TYPES[f.type], f.default if f.default is not None else ...) for k, f in approval.inputs.items()}
    model = create_model(f"{node.name.title().replace('_', '')}Input", __base__=RunInput, **fields)
    answer = pause_flow_run(wait_for_input=model, timeout=int(approval.timeout_seconds))
    return answer.model_dump()


def _signature(ir: FlowIR) -> inspect.Signature:
    params = []
    for p in ir.params:
        schema = dict(p.schema)
        t = schema["type"]
        annotation = typing.Union[tuple(_TYPES[x] for x in t)] if isinstance(t, list) else _TYPES[t]  # noqa: UP007
        if schema.get("enum"):
            annotation = typing.Literal[tuple(schema["enum"])]
        default = inspect.Parameter.empty if p.required else p.default
        params.append(
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=annotation if p.required or p.default is not None else annotation | None,
            )
        )
    return inspect.Signature(params)


def _flow_run_name(template: str):
    parts = ex.split(template, ex.RUN_TIME)

    def name() -> str:
        from prefect.runtime import flow_run

        return str(ex.evaluate(parts, {"params": flow_run.parameters}))

    return name


def _task_runner(spec: dict[str, Any]):
    kind = spec["type"]
    if kind == "thread_pool":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=spec.get("max_workers"))
    if kind == "process_pool":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=spec.get("max_workers"))
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        kw = {k: spec[k] for k in ("address", "cluster_class") if spec.get(k)}
        if spec.get("cluster_kwargs"):
            kw["cluster_kwargs"] = dict(spec["cluster_kwargs"])
        return DaskTaskRunner(**kw)
    from prefect_ray import RayTaskRunner  # type: ignore[import-not-found]

    return RayTaskRunner(address=spec.get("address"))


def _tagged_flow_class(tags: tuple[str, ...]) -> type[Flow]:
    """Flows take no tags=: enter prefect.tags() around each call so the flow run itself
    (created by __call__) carries them; the body wrapper below covers worker-started runs."""
    import prefect

    class TaggedFlow(Flow):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with prefect.tags(*tags):
                return super().__call__(*args, **kwargs)

    return TaggedFlow


@contextlib.contextmanager
def _source_read_once():
    """Prefect's Task() reads its function's source (inspect.getsource, which re-tokenizes
    the file) on every call; when one callable backs many tasks, read it once."""
    original = inspect.getsource
    cache: dict[object, str] = {}

    def getsource(obj: object) -> str:
        try:
            return cache[obj]
        except (KeyError, TypeError):
            text = original(obj)
            with contextlib.suppress(TypeError):
                cache[obj] = text
            return text

    inspect.getsource = getsource
    try:
        yield
    finally:
        inspect.getsource = original


def compile_flow(project: Project, flow_name: str) -> Flow:
    with _source_read_once():
        return _Builder(project).flow(flow_name)


def compile_project(project: Project) -> dict[str, Flow]:
    builder = _Builder(project)
    with _source_read_once():
        return {name: builder.flow(name) for name in project.flows}
