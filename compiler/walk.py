"""The compiled flow's body: walk the DAG and hand each task to the flow's task runner.

- A task is submitted as soon as the tasks it needs were submitted (not finished): an
  argument that is exactly `$[ tasks.X.result ]` is X's future, any other expression that
  reads results is a runtime.Deferred the task evaluates when it runs. Independent tasks
  therefore run concurrently, like hand-written `Task.submit(..., wait_for=...)` code.
- Only a few things wait in the body: subflows and approvals (they run in the flow
  itself), a `when` that reads a result, and mapping over a computed value. Those are
  taken last among the ready tasks, so everything else is already running.
- A skipped task (false `when`) ends in a Completed state named "Skipped"; tasks that read
  its result are skipped the same way; tasks that only `depends_on` it still run.
"""

from __future__ import annotations

from typing import Any

from prefect import Task, allow_failure, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.states import Completed

from pipeform.spec import expressions as ex

from .ir import FlowIR, TaskIR
from .params import field_default
from .runtime import Deferred

SKIPPED = "Skipped"
APPROVAL_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool}


class Skip:
    """The value of a skipped task inside the body."""

    def __repr__(self) -> str:
        return "<skipped>"


SKIP = Skip()


class TaskFailures(RuntimeError):
    """Raised at the end of a flow run when tasks failed (those without continue_on_failure)."""


# -- how each expression is handed over ---------------------------------------------------


def _whole_result(text: str) -> str | None:
    """'X' when the string is exactly `$[ tasks.X.result ]`."""
    parts = ex.split(text, ex.RUN_TIME)
    if len(parts) != 1 or not isinstance(parts[0], ex.Expr):
        return None
    refs = ex.references(parts[0].source)
    if len(refs) == 1 and refs[0][0] == "tasks" and parts[0].source.replace(" ", "") == f"tasks.{refs[0][1]}.result":
        return refs[0][1]
    return None


def _reads(value: Any) -> set[str]:
    found: set[str] = set()

    def visit(text: str, _path: tuple) -> str:
        if "$[" in text:
            for part in ex.split(text, ex.RUN_TIME):
                if isinstance(part, ex.Expr):
                    found.update(r[1] for r in ex.references(part.source) if r[0] == "tasks" and len(r) > 1)
        return text

    ex.walk_strings(value, visit)
    return found


def needs_resolving(node: TaskIR) -> bool:
    """Does the task get a Deferred argument (an expression reading results, not a whole one)?"""

    def partial(value: Any) -> bool:
        if isinstance(value, str) and _whole_result(value):
            return False
        return bool(_reads(value))

    return any(partial(v) for _, v in node.inputs) or bool(_reads(_target_value(node)))


def _blocks(node: TaskIR, ir: FlowIR) -> bool:
    if node.runs_in_flow or (node.when and _reads(node.when)):
        return True
    for _, value in node.mapped:
        whole = _whole_result(value) if isinstance(value, str) else None
        if _reads(value) and not (whole and ir.task(whole).mapped):
            return True  # mapping needs the list itself
    return False


class _Values:
    """Turns spec values into task arguments inside one flow run."""

    def __init__(self, params: dict[str, Any]):
        self.params = params
        self.futures: dict[str, Any] = {}  # task name -> future, list of futures, value, or SKIP

    def argument(self, value: Any) -> Any:
        """Future for a whole result, Deferred for other result expressions, else the value."""
        if isinstance(value, str) and (name := _whole_result(value)):
            return self.futures[name]
        reads = _reads(value)
        if reads:
            return Deferred(value, {n: self.futures[n] for n in sorted(reads)}, self.params)
        return self.now(value)

    def now(self, value: Any) -> Any:
        """Evaluate here, waiting for the results the value reads."""
        reads = _reads(value)
        context = {"params": self.params, "tasks": {n: {"result": result(self.futures[n])} for n in reads}}
        return ex.walk_strings(value, lambda text, _p: ex.render(text, ex.RUN_TIME, context) if "$[" in text else text)


def hook_inputs(node: TaskIR, params: dict[str, Any]) -> dict[str, Any]:
    """Inputs of a task run as a hook: parameters are known, results are not."""
    values = _Values(params)
    return _action_args(node, values, {k: values.now(v) for k, v in node.inputs})


# -- the walk ---------------------------------------------------------------------------


def run_dag(ir: FlowIR, tasks: dict[str, Task | None], subflows: dict[str, Any], params: dict[str, Any]) -> Any:
    values = _Values({k: field_default(v) for k, v in params.items()})
    skipped: set[str] = set()
    pending = list(ir.tasks)
    while pending:
        ready = [n for n in pending if all(d in values.futures for d in n.deps)]
        node = next((n for n in ready if not _blocks(n, ir)), ready[0])
        pending.remove(node)
        if node.data_deps & skipped:
            skipped.add(node.name)
            values.futures[node.name] = _skip(node, "a task whose result it reads was skipped")
            continue
        if node.when is not None and not values.now(node.when):
            skipped.add(node.name)
            values.futures[node.name] = _skip(node, f"condition {node.when!r} is false")
            continue
        values.futures[node.name] = _start(node, ir, tasks, subflows, values)
    _raise_failures(ir, values.futures)
    if ir.returns is not None:
        return values.now(ir.returns)
    used = {d for n in ir.tasks for d in n.deps}
    return {
        n.name: _leaf_result(n, values.futures[n.name])
        for n in sorted(ir.tasks, key=lambda n: n.name)
        if n.name not in used and n.name not in skipped
    }


def _start(node: TaskIR, ir: FlowIR, tasks: dict, subflows: dict, values: _Values) -> Any:
    if node.action == "subflow":
        kwargs = {k: values.now(v) for k, v in node.inputs}
        if node.options.continue_on_failure:
            state = subflows[node.target](**kwargs, return_state=True)
            return state.result(raise_on_failure=False) if state.is_completed() else None
        return subflows[node.target](**kwargs)
    if node.action == "approval":
        return approve(node, {k: values.now(v) for k, v in node.inputs})
    # One entry per future (a mapped upstream is a list of them): the process pool runner
    # waits on each element of wait_for and cannot take a list.
    wait_for = [
        allow_failure(f) if ir.task(d).options.continue_on_failure else f
        for d in sorted(node.deps)
        for f in _futures(values.futures[d])
    ]
    kwargs = _action_args(node, values, {k: values.argument(v) for k, v in node.inputs})
    task = tasks[node.name]
    if node.mapped:
        mapped = {}
        for k, v in node.mapped:
            whole = _whole_result(v) if isinstance(v, str) else None
            mapped[k] = values.futures[whole] if whole and ir.task(whole).mapped else values.now(v)
        args = {**{k: unmapped(v) for k, v in kwargs.items()}, **mapped}
        return task.map(**args, wait_for=wait_for or None)
    return task.submit(**kwargs, wait_for=wait_for or None)


def _target_value(node: TaskIR) -> Any:
    """The action's own settings as plain data, so $[ ] inside commands resolve too."""
    if node.action == "shell":
        return {"command": node.target} if isinstance(node.target, str) else node.target.model_dump()
    if node.action == "deployment":
        return {"job_variables": node.target.job_variables}
    return None


def _action_args(node: TaskIR, values: _Values, kwargs: dict[str, Any]) -> dict[str, Any]:
    if node.action == "shell":
        shell = node.target
        if isinstance(shell, str):
            return {"command": values.argument(shell), **({"inputs": kwargs} if kwargs else {})}
        args = {
            "command": values.argument(shell.command),
            "env": values.argument(shell.env) if shell.env else None,
            "cwd": values.argument(shell.cwd) if shell.cwd else None,
            "capture": shell.capture,
            "stream": shell.stream_output,
            "inputs": kwargs or None,
        }
        return {k: v for k, v in args.items() if v is not None}
    if node.action == "deployment":
        d = node.target
        return {
            "name": d.name,
            "wait": d.wait,
            "timeout": d.timeout_seconds,
            "job_variables": values.argument(d.job_variables),
            "parameters": kwargs,
        }
    return kwargs


def _skip(node: TaskIR, why: str) -> Skip:
    """Record the skip as a task run of its own, Completed and named "Skipped"."""

    def skipped() -> Any:
        return Completed(name=SKIPPED, message=f"skipped: {why}")

    Task(skipped, name=node.name, cache_policy=NO_CACHE, description=f"skipped: {why}")()
    return SKIP


# -- results ----------------------------------------------------------------------------


def _is_future(value: Any) -> bool:
    return isinstance(value, PrefectFuture) or (
        isinstance(value, list) and any(isinstance(v, PrefectFuture) for v in value)
    )


def _futures(value: Any) -> list[PrefectFuture]:
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


def _leaf_result(node: TaskIR, value: Any) -> Any:
    if node.options.continue_on_failure and any(f.state.is_failed() for f in _futures(value)):
        return None
    return result(value)


def _raise_failures(ir: FlowIR, futures: dict[str, Any]) -> None:
    failed = []
    for node in ir.tasks:
        for f in _futures(futures[node.name]):
            f.wait()
            if not f.state.is_completed() and not node.options.continue_on_failure:
                failed.append(f"{node.name} ({f.state.name}: {f.state.message or ''})".strip())
    if failed:
        raise TaskFailures("tasks did not complete: " + "; ".join(failed))


# -- actions that are not plain callables -----------------------------------------------


def run_deployment(name: str, wait: bool, timeout: float | None, job_variables: Any, parameters: dict) -> str:
    """Trigger a deployment run; with wait, fail unless it completes. Returns the run id."""
    from prefect.deployments import run_deployment as trigger

    from .runtime import resolve

    run = trigger(
        name,
        parameters={k: resolve(v) for k, v in parameters.items()} or None,
        timeout=timeout if wait else 0,
        job_variables=resolve(job_variables) or None,
    )
    if wait and (run.state is None or not run.state.is_completed()):
        raise RuntimeError(f"deployment run {run.name} ended {run.state.name if run.state else 'unknown'}")
    return str(run.id)


def approve(node: TaskIR, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pause the flow run until someone resumes it; the typed input is the result."""
    from prefect import get_run_logger
    from prefect.flow_runs import pause_flow_run
    from prefect.input import RunInput
    from pydantic import Field, create_model

    approval = node.target
    if approval.message:
        get_run_logger().info("waiting for approval: %s", approval.message)
    if not approval.inputs:
        pause_flow_run(timeout=int(approval.timeout_seconds))
        return {"approved": True, **kwargs}
    fields = {
        k: (
            APPROVAL_TYPES[f.type],
            Field(default=f.default if f.default is not None else ..., description=f.description),
        )
        for k, f in approval.inputs.items()
    }
    title = "".join(part.title() for part in node.name.split("_")) + "Input"
    model = create_model(title, __base__=RunInput, **fields)
    answer = pause_flow_run(wait_for_input=model, timeout=int(approval.timeout_seconds))
    return {**kwargs, **answer.model_dump()}
