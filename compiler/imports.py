"""`pipeform validate --check-imports`: import every Python callable the specs name and
check its signature against the arguments the spec passes. Only runs with the flag:
plain validation never imports user code."""

from __future__ import annotations

import inspect
import sys
from typing import Any

from pipeform.spec.diagnostics import Diagnostic
from pipeform.spec.flow_names import deployment_flow_name
from pipeform.spec.project import Project

from .runtime import import_callable


def check_imports(project: Project) -> list[Diagnostic]:
    if project.root not in sys.path:
        sys.path.insert(0, project.root)
    out: list[Diagnostic] = list(_check_entrypoints(project))
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


def _check_entrypoints(project: Project) -> list[Diagnostic]:
    """Entrypoint deployments: import the flow as `prefect deploy` does; its name must be the
    one the deployment's address uses, and the parameters given must be ones it takes."""
    import contextlib
    import os

    from prefect.flows import load_flow_from_entrypoint

    out: list[Diagnostic] = []
    for name, doc in project.deployments.items():
        s = doc.spec
        if not s.entrypoint:
            continue
        where = project.origin("Deployment", name, ("spec", "entrypoint"))
        try:
            if ".py:" in s.entrypoint:
                path, func = s.entrypoint.rsplit(":", 1)
                flow: Any = load_flow_from_entrypoint(f"{os.path.join(project.root, path)}:{func}")
            else:  # a module path: imported from the project folder, as the worker's working directory
                with contextlib.chdir(project.root):
                    flow = load_flow_from_entrypoint(s.entrypoint)
        except Exception as exc:  # any import-time failure of user code is a finding
            out.append(Diagnostic("import.error", f"cannot import {s.entrypoint}: {type(exc).__name__}: {exc}", where))
            continue
        used = deployment_flow_name(s)
        if flow.name != used:
            out.append(
                Diagnostic(
                    "import.flow-name",
                    f"imported, {s.entrypoint} is the flow {flow.name!r}, but this deployment's address uses {used!r}",
                    project.origin("Deployment", name, ("spec", "flow_name" if s.flow_name else "entrypoint")),
                    "warning" if s.flow_name else "error",
                    hint=f"set flow_name: {flow.name}",
                )
            )
        params = inspect.signature(flow.fn).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            continue
        given: list[tuple[tuple[str | int, ...], str]] = [(("spec", "parameters", k), k) for k in s.parameters]
        given += [
            (("spec", "schedules", i, "parameters", k), k) for i, sc in enumerate(s.schedules) for k in sc.parameters
        ]
        for loc, key in given:
            if key not in params:
                out.append(
                    Diagnostic(
                        "import.unknown-arg",
                        f"flow {flow.name!r} ({s.entrypoint}) takes no parameter {key!r} "
                        f"(it takes: {', '.join(params) or 'none'})",
                        project.origin("Deployment", name, loc, key=True),
                    )
                )
    return out
