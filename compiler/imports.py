"""`pipeform validate --check-imports`: import every Python callable the specs name and
check its signature against the arguments the spec passes. Only runs with the flag:
plain validation never imports user code."""

from __future__ import annotations

import inspect
import sys

from pipeform.spec.diagnostics import Diagnostic
from pipeform.spec.project import Project

from .runtime import import_callable


def check_imports(project: Project) -> list[Diagnostic]:
    if project.root not in sys.path:
        sys.path.insert(0, project.root)
    out: list[Diagnostic] = []
    for flow_name, flow in project.flows.items():
        for i, task in enumerate(flow.spec.tasks):
            if task.python is None:
                continue
            where = project.origin("Flow", flow_name, ("spec", "tasks", i, "python"))
            try:
                fn = import_callable(task.python)
            except Exception as exc:  # any import-time failure of user code is a finding
                out.append(
                    Diagnostic("import.error", f"cannot import {task.python}: {type(exc).__name__}: {exc}", where)
                )
                continue
            try:
                sig = inspect.signature(fn)
            except (TypeError, ValueError):
                continue
            given = set(task.inputs) | set(task.map)
            params = sig.parameters
            takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
            for name in sorted(given):
                if name not in params and not takes_kwargs:
                    loc = project.origin(
                        "Flow",
                        flow_name,
                        ("spec", "tasks", i, "inputs" if name in task.inputs else "map", name),
                        key=True,
                    )
                    out.append(
                        Diagnostic(
                            "import.unknown-arg",
                            f"{task.python} takes no argument {name!r} (it takes: {', '.join(params) or 'none'})",
                            loc,
                        )
                    )
            for name, p in params.items():
                required = p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                if required and name not in given:
                    out.append(
                        Diagnostic(
                            "import.missing-arg",
                            f"{task.python} needs argument {name!r}, which the task does not pass",
                            where,
                        )
                    )
    return out
