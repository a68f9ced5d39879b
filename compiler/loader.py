"""Worker entrypoint: `pipeform.compiler.loader:<flow-name>`.

Prefect's load_flow_from_entrypoint imports this module and reads the attribute named
after the flow; the module-level __getattr__ loads the specs from the working directory
the deployment's pull steps chose (or $PIPEFORM_SPEC_PATH), applies the overlay named by
$PIPEFORM_ENV, and compiles that flow. No generated code is committed anywhere.
"""

from __future__ import annotations

import os
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    from pipeform.compiler import compile_flow
    from pipeform.spec import SpecError, load_project_or_raise

    path = os.environ.get("PIPEFORM_SPEC_PATH") or os.getcwd()
    try:
        project = load_project_or_raise([path], env=os.environ.get("PIPEFORM_ENV") or None)
    except SpecError as error:
        # AttributeError is the contract of a module __getattr__: pickle and
        # hasattr() probe modules this way and must see "not here", not a crash.
        raise AttributeError(f"cannot load Flow {name!r} from {path}:\n{error}") from error
    if name not in project.flows:
        raise AttributeError(f"no Flow named {name!r} in {path}")
    return compile_flow(project, name)
