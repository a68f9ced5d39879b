"""The compiled flow's body: run an execution plan (plan.py) inside a flow run, handing
each step to the flow's task runner. Imports Prefect.

A future argument is the upstream's future, a deferred one a runtime.Deferred the task
evaluates when it runs, a value now is rendered here. A skipped step (false `when`) ends
in a Completed state named "Skipped"; steps reading its result are skipped the same way;
steps that only `depends_on` it still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prefect import Task, allow_failure, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture
from prefect.states import Completed

from . import context
from .ir import Approval, SubflowCall
from .params import field_default
from .plan import Arg, Deferred, ExecutionPlan, Future, Nested, Now, Step
from .runtime import Deferred as DeferredValue
from .runtime import approve

SKIPPED = "Skipped"


class Skip:
    """The value of a skipped task inside the body."""

    def __repr__(self) -> str:
        return "<skipped>"


SKIP = Skip()


class TaskFailures(RuntimeError):
    """Raised at the end of a flow run when tasks failed (those without continue_on_failure)."""


class _Values:
    """Turns a step's arguments into task arguments inside one flow run."""

    def __init__(self, params: Mapping[str, Any]):
        self.params = params
        self.futures: dict[str, Any] = {}  # task name -> future, list of futures, value, or SKIP

    def argument(self, arg: Arg) -> Any:
        match arg:
            case Future(task=name):
                return self.futures[name]
            case Deferred(value=value, reads=reads):
                return DeferredValue(value, {n: self.futures[n] for n in reads}, dict(self.params))
            case Now():
                return self.now(arg)
            case Nested(items=items):
                return {k: self.argument(a) for k, a in items}

    def now(self, arg: Arg) -> Any:
        """Evaluate here, waiting for the results the value reads."""
        if isinstance(arg, Nested):
            return {k: self.now(a) for k, a in arg.items}
        reads = arg.reads if isinstance(arg, Now | Deferred) else (arg.task,)
        return context.render(arg.value, self.params, {n: result(self.futures[n]) for n in reads})


def hook_inputs(step: Step, params: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs of a task run as a hook: parameters are known, results are not."""
    values = _Values(params)
    return {k: values.now(a) for k, a in step.args}


def run_plan(
    plan: ExecutionPlan,
    tasks: Mapping[str, Task[..., Any] | None],
    subflows: Mapping[str, Callable[..., Any]],
    params: dict[str, Any],
) -> Any:
    values = _Values({k: field_default(v) for k, v in params.items()})
    skipped: set[str] = set()
    for step in plan.steps:
        if set(step.skip_if) & skipped:
            skipped.add(step.name)
            values.futures[step.name] = _skip(step, "a task whose result it reads was skipped")
        elif step.when is not None and not values.now(step.when):
            skipped.add(step.name)
            values.futures[step.name] = _skip(step, f"condition {step.when.value!r} is false")
        else:
            values.futures[step.name] = _start(step, tasks, subflows, values)
    _raise_failures(plan, values.futures)
    if plan.returns is not None:
        return values.now(plan.returns)
    return {name: _leaf_result(plan.step(name), values.futures[name]) for name in plan.leaves if name not in skipped}


def _start(step: Step, tasks: Mapping[str, Any], subflows: Mapping[str, Any], values: _Values) -> Any:
    node = step.node
    match node.action:  # subflows and approvals run in the body
        case Approval() as approval:
            return approve(node.name, approval, {k: values.now(a) for k, a in step.args})
        case SubflowCall(flow=flow):
            kwargs = {k: values.now(a) for k, a in step.args}
            if node.options.continue_on_failure:
                state = subflows[flow](**kwargs, return_state=True)
                return state.result(raise_on_failure=False) if state.is_completed() else None
            return subflows[flow](**kwargs)
    # One entry per future (a mapped upstream is a list of them): the process pool runner
    # waits on each element of wait_for and cannot take a list.
    wait_for = [
        allow_failure(f) if w.allow_failure else f for w in step.wait_for for f in _futures(values.futures[w.task])
    ]
    kwargs = {k: values.argument(a) for k, a in step.args}
    task = tasks[step.name]
    if step.mapped:
        mapped = {k: values.futures[m.task] if isinstance(m, Future) else values.now(m) for k, m in step.mapped}
        args = {**{k: unmapped(v) for k, v in kwargs.items()}, **mapped}
        return task.map(**args, wait_for=wait_for or None)
    return task.submit(**kwargs, wait_for=wait_for or None)


def _skip(step: Step, why: str) -> Skip:
    """Record the skip as a task run of its own, Completed and named "Skipped"."""

    def skipped() -> State[Any]:
        return Completed(name=SKIPPED, message=f"skipped: {why}")

    Task(skipped, name=step.name, cache_policy=NO_CACHE, description=f"skipped: {why}")()
    return SKIP


# -- results ----------------------------------------------------------------------------


def _futures(value: Any) -> list[PrefectFuture[Any]]:
    if isinstance(value, PrefectFuture):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, PrefectFuture)]
    return []


def result(value: Any) -> Any:
    if isinstance(value, PrefectFuture):
        return value.result()
    if isinstance(value, list) and any(isinstance(v, PrefectFuture) for v in value):
        return [result(v) for v in value]
    return value


def _leaf_result(step: Step, value: Any) -> Any:
    if step.node.options.continue_on_failure and any(f.state.is_failed() for f in _futures(value)):
        return None
    return result(value)


def _raise_failures(plan: ExecutionPlan, futures: dict[str, Any]) -> None:
    failed = []
    for node in plan.flow.tasks:
        for f in _futures(futures[node.name]):
            f.wait()
            if not f.state.is_completed() and not node.options.continue_on_failure:
                failed.append(f"{node.name} ({f.state.name}: {f.state.message or ''})".strip())
    if failed:
        raise TaskFailures("tasks did not complete: " + "; ".join(failed))
