"""IR -> Python source: one readable module of plain Prefect code per flow. Pure: no Prefect.

The emitted module does what the in-memory flow (build.py + walk.py) does, written out
from the same execution plan (plan.py): module-level task objects (tasks.py, with options
from options.py), one `@flow` function whose keyword-only signature is the parameter schema
(signature.py), a body starting the plan's steps in order (body.py), and a `__main__` block
(main.py); module.py puts the module together. `$[ ]` expressions become Python (expr.py);
anything that has no plain-Python equivalent raises CompileError with `emit.unsupported`
located at the task, never code that would behave differently.
"""

from __future__ import annotations

import os

from ..ir import FlowIR
from ..lower import CompileError
from ..plan import execution_plan
from .module import module
from .scope import Emitter, OriginOf
from .text import module_name


def _shown(path: str) -> str:
    """A path as the docstring names it: relative to the working directory when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def emit_python(ir: FlowIR, origin: OriginOf | None = None) -> str:
    """The Python module of one flow. `origin` is Project.origin (for located messages and
    the source file named in the module docstring). Raises CompileError (`emit.unsupported`)."""
    emitter = Emitter(execution_plan(ir), origin)
    source = origin(*ir.source) if origin and ir.source else None
    text = module(emitter, _shown(source.file) if source else None)
    if emitter.diagnostics:
        raise CompileError(emitter.diagnostics)
    return text


__all__ = ["emit_python", "module_name"]
