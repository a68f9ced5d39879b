"""Run-time expressions (`$[ ]`): the roots they read and how a value is rendered.

The one home of run-time expression roots: `params` (the flow run's parameters),
`tasks.NAME.result` (upstream results), `secrets.NAME`, `variables.NAME` and
`blocks.TYPE.NAME` (read from the server when an expression reads them, run_resources.py)
and, in a task's run name only, `inputs`. A new root is added to `evaluation_context`
here, to `ROOTS`, and to emit/expr.Refs for emitted code. Pure: Prefect is imported only
when a server root is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pipeform.spec import expressions as ex
from pipeform.spec.check_blocks import RESOURCE_ROOTS

from .run_resources import resource_context

ROOTS = ("params", "tasks", "inputs", *RESOURCE_ROOTS)


def evaluation_context(params: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any]:
    """What an expression sees inside a flow run: parameters, the results it reads, and the
    server's secrets, variables and blocks (loaded lazily, only those read)."""
    return {
        "params": params,
        "tasks": {name: {"result": value} for name, value in results.items()},
        **resource_context(),
    }


def name_context(root: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What a run-name template sees: the parameters, as `params` and as `root` (a task's
    run name reads its `inputs`)."""
    return {root: params, "params": params}


def render(value: Any, params: Mapping[str, Any], results: Mapping[str, Any]) -> Any:
    """A JSON-like value with every `$[ ]` string evaluated."""
    context = evaluation_context(params, results)
    return ex.walk_strings(value, lambda text, _p: ex.render(text, ex.RUN_TIME, context) if "$[" in text else text)


# Pure functions of a string, cached: the plan asks both about every argument of every
# task, and the same strings recur across a project's flows (`$[ tasks.X.result ]`).
@lru_cache(maxsize=4096)
def whole_result(text: str) -> str | None:
    """'X' when the string is exactly `$[ tasks.X.result ]` (its value is X's result as is)."""
    parts = ex.split(text, ex.RUN_TIME)
    if len(parts) != 1 or not isinstance(parts[0], ex.Expr):
        return None
    refs = ex.references(parts[0].source)
    if len(refs) == 1 and refs[0][0] == "tasks" and parts[0].source.replace(" ", "") == f"tasks.{refs[0][1]}.result":
        return refs[0][1]
    return None


@lru_cache(maxsize=4096)
def _text_reads(text: str) -> frozenset[str]:
    found: set[str] = set()
    for part in ex.split(text, ex.RUN_TIME):
        if isinstance(part, ex.Expr):
            found.update(r[1] for r in ex.references(part.source) if r[0] == "tasks" and len(r) > 1)
    return frozenset(found)


def result_reads(value: Any) -> frozenset[str]:
    """Names of the tasks whose results a JSON-like value reads."""
    if isinstance(value, str):
        return _text_reads(value) if "$[" in value else frozenset()
    found: set[str] = set()

    def visit(text: str, _path: tuple[Any, ...]) -> str:
        if "$[" in text:
            found.update(_text_reads(text))
        return text

    ex.walk_strings(value, visit)
    return frozenset(found)
