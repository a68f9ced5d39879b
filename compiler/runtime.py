"""What compiled tasks run: shell commands with streamed logs, run-time expressions that
read upstream results, user callables, deployment runs and approvals. Imports Prefect
(runs inside flow runs); emitted modules call these helpers too."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, cast

from prefect import get_run_logger

from . import context
from .ir import Approval

TAIL_LINES = 20


class ShellError(RuntimeError):
    pass


def run_shell(
    command: str,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    capture: str = "stdout",
    stream: bool = True,
    inputs: dict[str, Any] | None = None,
) -> Any:
    """Run /bin/sh -c COMMAND; log each stdout/stderr line as it arrives; fail with the exit
    code and the last lines when it exits non-zero. `inputs` become environment variables
    (strings as they are, other values as JSON)."""
    extra = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (inputs or {}).items()}
    extra.update({k: str(v) for k, v in (env or {}).items()})
    logger = get_run_logger()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=cwd or None,
        env={**os.environ, **extra},
        text=True,
        bufsize=1,
    )
    out: list[str] = []
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def pump(pipe: IO[str], sink: list[str] | None, level: int) -> None:
        for line in pipe:
            line = line.rstrip("\n")
            tail.append(line)
            if sink is not None:
                sink.append(line)
            if stream:
                logger.log(level, line)

    assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
    err_thread = threading.Thread(target=pump, args=(proc.stderr, None, 30), daemon=True)
    err_thread.start()
    pump(proc.stdout, out, 20)
    err_thread.join()
    code = proc.wait()
    if code != 0:
        raise ShellError(f"command exited with code {code}; last output:\n" + "\n".join(tail))
    if capture == "none":
        return None
    if capture == "lines":
        return out
    text = "\n".join(out)
    return json.loads(text) if capture == "json" else text


def import_callable(path: str) -> Any:
    """`package.module:attr.sub` -> object."""
    import importlib

    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Deferred:
    """A value holding $[ ] expressions that read upstream results. It is passed to the
    task as the argument itself: Prefect resolves the futures in `results` before the task
    runs (and records them as the task's upstream inputs); `resolve` then evaluates it."""

    template: Any  # JSON-like value with $[ ] strings
    results: dict[str, Any] = field(default_factory=dict)  # task name -> future, then its result
    params: dict[str, Any] = field(default_factory=dict)

    def evaluate(self) -> Any:
        return context.render(self.template, self.params, self.results)


def resolve(value: Any) -> Any:
    if isinstance(value, Deferred):
        return value.evaluate()
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def resolving(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a task function so Deferred arguments are evaluated inside the task run.
    functools.wraps keeps the signature (Prefect binds parameters) and source (caching)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return fn(*(resolve(a) for a in args), **{k: resolve(v) for k, v in kwargs.items()})

    # wraps() copied fn's module and qualname; pickle (Dask, process pools) would then look
    # the wrapper up as fn and refuse it. Point them here so it is pickled by value.
    run.__module__, run.__qualname__ = __name__, f"resolving.<locals>.{fn.__name__}"
    return run


APPROVAL_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


def run_deployment(name: str, wait: bool, timeout: float | None, job_variables: Any, parameters: dict[str, Any]) -> str:
    """Trigger a deployment run; with wait, fail unless it completes. Returns the run id."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment as trigger

    run = cast(
        "FlowRun",
        trigger(
            name,
            parameters={k: resolve(v) for k, v in parameters.items()} or None,
            timeout=timeout if wait else 0,
            job_variables=resolve(job_variables) or None,
        ),
    )
    if wait and (run.state is None or not run.state.is_completed()):
        raise RuntimeError(f"deployment run {run.name} ended {run.state.name if run.state else 'unknown'}")
    return str(run.id)


def approve(name: str, approval: Approval, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pause the flow run until someone resumes it; the typed input is the result."""
    from prefect.flow_runs import pause_flow_run
    from prefect.input import RunInput
    from pydantic import Field, create_model

    if approval.message:
        get_run_logger().info("waiting for approval: %s", approval.message)
    if not approval.inputs:
        pause_flow_run(timeout=int(approval.timeout_seconds))
        return {"approved": True, **kwargs}
    fields: dict[str, Any] = {
        k: (
            APPROVAL_TYPES[f.type],
            Field(default=f.default if f.default is not None else ..., description=f.description),
        )
        for k, f in approval.inputs
    }
    title = "".join(part.title() for part in name.split("_")) + "Input"
    model = create_model(title, __base__=RunInput, **fields)
    answer = pause_flow_run(wait_for_input=model, timeout=int(approval.timeout_seconds))
    return {**kwargs, **answer.model_dump()}
