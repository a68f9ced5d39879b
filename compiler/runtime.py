"""What compiled tasks run: shell commands with streamed logs, run-time expressions that
read upstream results, user callables. Imports Prefect (runs inside flow runs)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger

from pipeform.spec import expressions as ex

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

    def pump(pipe, sink: list[str] | None, level: int) -> None:
        for line in pipe:
            line = line.rstrip("\n")
            tail.append(line)
            if sink is not None:
                sink.append(line)
            if stream:
                logger.log(level, line)

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


def import_callable(path: str):
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
        context = {"params": self.params, "tasks": {n: {"result": r} for n, r in self.results.items()}}
        return ex.walk_strings(self.template, lambda text, _p: ex.render(text, ex.RUN_TIME, context))


def resolve(value: Any) -> Any:
    if isinstance(value, Deferred):
        return value.evaluate()
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def resolving(fn):
    """Wrap a task function so Deferred arguments are evaluated inside the task run.
    functools.wraps keeps the signature (Prefect binds parameters) and source (caching)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return fn(*(resolve(a) for a in args), **{k: resolve(v) for k, v in kwargs.items()})

    # wraps() copied fn's module and qualname; pickle (Dask, process pools) would then look
    # the wrapper up as fn and refuse it. Point them here so it is pickled by value.
    run.__module__, run.__qualname__ = __name__, f"resolving.<locals>.{fn.__name__}"
    return run
