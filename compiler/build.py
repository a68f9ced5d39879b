"""IR -> prefect.Flow: Task objects with their options, the flow's signature (its
parameter schema), runner, hooks and name templates. The flow body is walk.run_plan
over plan.execution_plan(ir); every task's callable comes from actions.callee."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import prefect.cache_policies
from prefect import Flow, Task

from pipeform.spec import expressions as ex
from pipeform.spec.diagnostics import Diagnostic
from pipeform.spec.project import Project

from . import context, options
from .ir import CacheIR, FlowIR, HookIR, PythonCall, SubflowCall, TaskIR
from .lower import CompileError, lower
from .params import REQUIRED, param_fields
from .plan import ExecutionPlan, Step, execution_plan
from .runtime import import_callable, resolving
from .walk import hook_inputs, run_plan


def cache_policy(cache: CacheIR) -> Any:
    policy: Any = None
    for name in cache.policies:
        named = getattr(prefect.cache_policies, options.CACHE_POLICIES[name])
        policy = named if policy is None else policy + named
    for key in cache.exclude_inputs:
        policy = policy - key
    if cache.key_storage:
        policy = policy.configure(key_storage=cache.key_storage)
    return policy


def retry_condition(names: tuple[str, ...]) -> Callable[[Any, Any, Any], bool]:
    """Retry only when the exception's class (or a base) is named, by name or import path."""

    def should_retry(task: Any, task_run: Any, state: Any) -> bool:
        exc = state.result(raise_on_failure=False)
        if not isinstance(exc, BaseException):
            return False
        return any(n in (c.__name__, f"{c.__module__}.{c.__name__}") for c in type(exc).__mro__ for n in names)

    return should_retry


def construct(c: options.Constructor | str) -> Any:
    """Import and call an options.Constructor (a plain string stays as it is)."""
    if isinstance(c, str):
        return c
    kwargs = {k: os.path.expanduser(v.path) if isinstance(v, options.HomePath) else v for k, v in c.kwargs}
    return import_callable(f"{c.module}:{c.name}")(**kwargs)


def _template(template: str, root: str, runtime_attr: str) -> Callable[[], str]:
    """A run-name template as a callable Prefect evaluates when it names the run."""
    parts = ex.split(template, ex.RUN_TIME)

    def name() -> str:
        from prefect import runtime

        params = getattr(runtime, runtime_attr).parameters
        return str(ex.evaluate(parts, context.name_context(root, params)))

    return name


def _with_limits(fn: Callable[..., Any], node: TaskIR) -> Callable[..., Any]:
    """Occupy global concurrency limits (and rate limits) around the task body."""
    o = node.options
    if not (o.limits or o.rate_limits):
        return fn
    from prefect.concurrency.sync import concurrency, rate_limit

    @functools.wraps(fn)
    def limited(*args: Any, **kwargs: Any) -> Any:
        if o.rate_limits:
            rate_limit(list(o.rate_limits), occupy=o.occupy, timeout_seconds=o.limit_timeout_seconds)
        if o.limits:
            with concurrency(list(o.limits), occupy=o.occupy, timeout_seconds=o.limit_timeout_seconds):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return limited


def signature(ir: FlowIR) -> inspect.Signature:
    """Keyword-only parameters typed from the spec: Prefect derives the schema (and
    validates runs) from this signature; params.parameter_schema predicts the result."""
    fields = param_fields({p.name: p.spec for p in ir.params})
    return inspect.Signature(
        [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if default is REQUIRED else default,
                annotation=annotation,
            )
            for name, (annotation, default) in fields.items()
        ]
    )


class Builder:
    """Compiles flows of one project; subflows are compiled once and shared."""

    def __init__(self, project: Project):
        self.project = project
        self.flows: dict[str, Flow[..., Any]] = {}

    def flow(self, name: str) -> Flow[..., Any]:
        if name not in self.flows:
            self.flows[name] = self._build(lower(self.project, name))
        return self.flows[name]

    def task(self, step: Step, plan: ExecutionPlan) -> Task[..., Any] | None:
        if step.callee is None:
            return None  # subflows and approvals run in the flow body
        fn = import_callable(step.callee.path)
        if step.defers:
            fn = resolving(fn)
        kw = self.keywords(options.task_keywords(step.node), plan)
        return Task(_with_limits(fn, step.node), **kw)

    def keywords(self, kw: dict[str, Any], plan: ExecutionPlan) -> dict[str, Any]:
        """options.task_keywords/flow_keywords as the objects Prefect takes."""
        return {k: self._option(v, plan) for k, v in kw.items()}

    def _option(self, value: Any, plan: ExecutionPlan) -> Any:
        match value:
            case options.RetryOn(names=names):
                return retry_condition(names)
            case CacheIR():
                return cache_policy(value)
            case options.Duration(seconds=seconds):
                return timedelta(seconds=seconds)
            case options.RunName(template=template, of_task=True):
                return _template(template, "inputs", "task_run")
            case options.RunName(template=template):
                return _template(template, "params", "flow_run")
            case options.Constructor():
                return construct(value)
            case options.Hooks(hooks=hooks):
                return [self.hook(h, plan) for h in hooks]
            case tuple():
                return list(value)
        return value

    def hook(self, hook: HookIR, plan: ExecutionPlan) -> Any:
        """A Prefect state hook (obj, run, state) running a shell command, a Python hook,
        or a declared task (as its own task run, inputs from the flow's parameters)."""
        if hook.python:
            return import_callable(hook.python)
        if hook.shell:
            command = hook.shell

            def shell_hook(obj: Any, run: Any, state: Any) -> None:
                import subprocess

                subprocess.run(["/bin/sh", "-c", command], check=False)

            return shell_hook
        assert hook.task is not None
        step = plan.step(hook.task)
        task = self.task(step, plan)

        def task_hook(obj: Any, run: Any, state: Any) -> None:
            from prefect import runtime

            if task is None:
                raise TypeError(f"hook task {step.name!r} runs in a flow body and cannot be a hook")
            params = getattr(run, "parameters", None) or runtime.flow_run.parameters or {}
            task(**hook_inputs(step, params))

        return task_hook

    def _build(self, ir: FlowIR) -> Flow[..., Any]:
        if ir.root not in sys.path:
            sys.path.insert(0, ir.root)  # users' own modules live beside their specs
        plan = execution_plan(ir)
        tasks = self._tasks(plan)
        subflows = {n.action.flow: self.flow(n.action.flow) for n in ir.tasks if isinstance(n.action, SubflowCall)}
        tags = ir.options.tags
        run_time_plan = _plan_once(ir)

        def body(**params: Any) -> Any:
            import prefect

            with prefect.tags(*tags):  # task runs carry the flow's tags, also on workers
                return run_plan(run_time_plan(), tasks, subflows, params)

        body.__signature__ = signature(ir)  # type: ignore[attr-defined]
        body.__name__ = body.__qualname__ = ir.name.replace("-", "_").replace(".", "_")
        body.__doc__ = ir.description
        body.__module__ = "pipeform.compiler.loader"
        flow_class = _tagged_flow_class(tags) if tags else Flow
        return _new_flow(flow_class, body, self.keywords(options.flow_keywords(ir), plan))

    def _tasks(self, plan: ExecutionPlan) -> dict[str, Task[..., Any] | None]:
        problems: list[Diagnostic] = []
        tasks: dict[str, Task[..., Any] | None] = {}
        for step in (*plan.steps, *plan.hook_steps):
            try:
                tasks[step.name] = self.task(step, plan)
            except (ImportError, AttributeError) as exc:
                node = step.node
                path = node.action.path if isinstance(node.action, PythonCall) else None
                source = node.source or ("Flow", plan.flow.name, ())
                problems.append(
                    Diagnostic(
                        "import.error",
                        f"task {node.name!r}: cannot import {path!r}: {exc}",
                        self.project.origin(source[0], source[1], (*source[2], "python")),
                    )
                )
        if problems:
            raise CompileError(problems)
        return tasks


def _plan_once(ir: FlowIR) -> Callable[[], ExecutionPlan]:
    """The plan again at the first run, not kept from the build: a compiled flow holding its
    plan (~60 small objects per flow) made compile_project's garbage collections ~1.7x the
    base's (issue 12). A pure derivation of the IR the flow keeps anyway: ~75 µs for 10
    tasks, once per flow object."""
    plan: list[ExecutionPlan] = []

    def get() -> ExecutionPlan:
        if not plan:  # two concurrent first runs may both derive it: same value
            plan.append(execution_plan(ir))
        return plan[0]

    return get


def _new_flow(flow_class: type[Flow[..., Any]], body: Any, kw: dict[str, Any]) -> Flow[..., Any]:
    """Flow() builds a pydantic model of the signature only to check that parameters can
    be validated (a third of compile time); each run builds its own and validates. Spec
    checks make every compiled signature valid (identifiers, JSON types, no reserved
    names: spec/check_params.py RESERVED_PARAM_PREFIXES), so the check is skipped, not the
    validation."""
    validate = kw.pop("validate_parameters", True)
    flow = flow_class(body, validate_parameters=False, **kw)
    flow.should_validate_parameters = validate
    return flow


@functools.cache
def _tagged_flow_class(tags: tuple[str, ...]) -> type[Flow[..., Any]]:
    """Flows take no tags=: enter prefect.tags() around each call so the flow run itself
    (created by __call__) carries them; the body covers worker-started runs."""
    import prefect

    class TaggedFlow(Flow[..., Any]):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with prefect.tags(*tags):
                return super().__call__(*args, **kwargs)

    return TaggedFlow


_SOURCE_LOCK = threading.RLock()


@contextlib.contextmanager
def _source_read_once() -> Iterator[None]:
    """Task() reads its function's source (inspect.getsource re-tokenizes the file) on
    every call; when one callable backs many tasks, read it once per compile. The lock
    keeps concurrent compiles from restoring each other's patch."""
    with _SOURCE_LOCK:
        original = inspect.getsource
        cache: dict[Any, str] = {}

        def getsource(obj: Any) -> str:
            try:
                return cache[obj]
            except (KeyError, TypeError):
                text = original(obj)
                with contextlib.suppress(TypeError):
                    cache[obj] = text
                return text

        inspect.getsource = getsource  # type: ignore[assignment]
        try:
            yield
        finally:
            inspect.getsource = original


def compile_flow(project: Project, flow_name: str) -> Flow[..., Any]:
    with _source_read_once():
        return Builder(project).flow(flow_name)


def compile_project(project: Project) -> dict[str, Flow[..., Any]]:
    builder = Builder(project)
    with _source_read_once():
        return {name: builder.flow(name) for name in project.flows}
