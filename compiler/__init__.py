"""The compiler stage: Flow documents -> IR -> real prefect.Flow objects. See README.md.

Importing this package does not import Prefect; compile_flow/compile_project do.
"""

from __future__ import annotations

from typing import Any

from .lower import CompileError, lower
from .params import parameter_schema

LOADER_MODULE = "pipeform.compiler.loader"


def entrypoint_for(flow_name: str) -> str:
    """The deployment entrypoint that makes a worker compile the flow from the specs."""
    return f"{LOADER_MODULE}:{flow_name}"


def compile_flow(project: Any, flow_name: str) -> Any:  # a prefect.Flow (build.py is typed)
    from .build import compile_flow as build

    return build(project, flow_name)


def compile_project(project: Any) -> dict[str, Any]:  # name -> prefect.Flow
    from .build import compile_project as build

    return build(project)


__all__ = ["CompileError", "compile_flow", "compile_project", "entrypoint_for", "lower", "parameter_schema"]
