"""Python entrypoints (`file.py:function`) examined without running them.

A spec from a pull request names the entrypoint, so nothing in it may run during
validate or plan:
- `resolve`: the file must stay inside the project root (symlinks followed), exist, parse,
  and define the function (located diagnostics in the spec stage).
- `parameter_schema`: the schema Prefect's `parameter_schema_from_entrypoint` computes,
  built from the source alone. Annotations and defaults are evaluated by a small
  interpreter (static_eval.py) that knows literals, builtins, names imported from the
  standard library, prefect, pydantic and typing_extensions (imported for real: trusted,
  installed code), and the pydantic models and enums the file defines with plain bodies. Prefect's own
  path executes the file's top-level imports and class bodies (`safe_load_namespace`);
  it is used only when the static reading is incomplete *and* execution is allowed
  (`allow_exec`: apply, or `plan --allow-exec`; never with `--untrusted` or
  PIPEFORM_UNTRUSTED=1). Otherwise the schema says `Any` where the reading stopped, and
  the result's `notes` say so.
"""

from __future__ import annotations

import ast
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .static_eval import Reader, Unresolved

MAX_SOURCE_BYTES = 4 * 1024 * 1024  # an entrypoint file larger than this is not analysed
UNTRUSTED_ENV = "PIPEFORM_UNTRUSTED"  # "1": no user code runs, whatever the command


class EntrypointError(ValueError):
    """An entrypoint that cannot be used (outside the project, missing, not parseable)."""


def untrusted() -> bool:
    return os.environ.get(UNTRUSTED_ENV, "").strip().lower() in ("1", "true", "yes")


_policy = {"allow_exec": False}
_notes: list[str] = []


def set_exec_policy(allow: bool) -> None:
    """Chosen by the command: apply and `plan --allow-exec` allow running an entrypoint's
    top level when the static reading is incomplete; PIPEFORM_UNTRUSTED=1 always forbids it."""
    _policy["allow_exec"] = allow


def exec_allowed() -> bool:
    return _policy["allow_exec"] and not untrusted()


def note(*notes: str) -> None:
    _notes.extend(notes)


def take_notes() -> list[str]:
    """What the schemas computed since the last call noted (the command prints it)."""
    out = list(dict.fromkeys(_notes))
    _notes.clear()
    return out


@dataclass(frozen=True)
class Resolved:
    path: str | None  # absolute file, when found
    function: str
    problem: tuple[str, str] | None = None  # (code, message)
    severity: str = "error"


def resolve(root: str, entrypoint: str) -> Resolved:
    """Where an entrypoint's file is, or why it cannot be used (checked without running it).
    A module path (`pkg.mod.fn`) is the project's `pkg/mod.py` (or `pkg/mod/__init__.py`)."""
    from .flow_names import find_def, module_path, source_file

    base = os.path.realpath(root)
    rel, _, func = entrypoint.rpartition(":")
    if (module := module_path(entrypoint)) is not None:
        file, func = source_file(base, entrypoint)
        if not file.is_file():
            message = (
                f"module {module[0]!r} is not a file of the project folder {base} (no {os.path.relpath(file, base)}):"
                " pipeform reads a module-path entrypoint from the project's own files, without importing it;"
                " a module of an installed package cannot be read"
            )
            return Resolved(None, func, ("entrypoint.not-found", message))
        rel = os.path.relpath(file, base)
    full = os.path.realpath(os.path.join(base, rel))
    if os.path.commonpath([base, full]) != base:
        return Resolved(None, func, ("entrypoint.outside-project", f"{rel} is outside the project folder {base}"))
    if not os.path.isfile(full):
        message = f"entrypoint file {rel} does not exist in the project folder"
        return Resolved(None, func, ("entrypoint.not-found", message), "warning")
    tree, problem = _parse(full)
    if tree is None:
        return Resolved(full, func, ("entrypoint.invalid", f"{rel}: {problem}"))
    if find_def(tree, func) is None:  # func may be a path (`Class.method`), as import_object reads it
        # `x = flow(fn)`, `x = Flow(fn=...)`, `x = f.with_options(...)`: the flow's parameters
        # are its function's (Prefect's parameter_schema reads flow.fn), read statically
        from .flow_names import resolve as flow_name

        wrapped = flow_name(root, entrypoint).function
        if wrapped and find_def(tree, wrapped) is not None:
            return Resolved(full, wrapped)
        return Resolved(full, func, ("entrypoint.not-found", f"{rel} defines no function or flow {func!r}"))
    return Resolved(full, func)


def _parse(path: str) -> tuple[ast.Module | None, str]:
    try:
        if os.path.getsize(path) > MAX_SOURCE_BYTES:
            return None, f"larger than {MAX_SOURCE_BYTES} bytes"
        source = Path(path).read_bytes()
        return ast.parse(source, filename=path), ""
    except SyntaxError as exc:
        return None, f"syntax error at line {exc.lineno}: {exc.msg}"
    except (OSError, ValueError, RecursionError, MemoryError) as exc:
        return None, f"cannot be read as Python ({type(exc).__name__})"


@dataclass(frozen=True)
class Schema:
    schema: dict[str, Any]
    exact: bool  # the same schema Prefect computes
    executed: bool  # computed by running the file's top level (Prefect's path)
    notes: tuple[str, ...] = ()


def parameter_schema(root: str, entrypoint: str, allow_exec: bool = False) -> Schema:
    """The parameter schema of a Python flow. Raises FileNotFoundError / ValueError when
    the entrypoint cannot be used (resolve() reports that first, located)."""
    found = resolve(root, entrypoint)
    if found.path is None or (found.problem and found.severity == "error"):
        raise EntrypointError(found.problem[1] if found.problem else f"cannot use entrypoint {entrypoint}")
    source = Path(found.path).read_text(encoding="utf-8")
    signature, docstring, unresolved = static_signature(source, found.function, root)
    from prefect.utilities.callables import generate_parameter_schema, parameter_docstrings

    if unresolved and allow_exec and not untrusted():
        from prefect.utilities.callables import parameter_schema_from_entrypoint

        # Prefect's static reader finds a function by its own name (not `Class.method`)
        function = found.function.rsplit(".", 1)[-1]
        schema = parameter_schema_from_entrypoint(f"{found.path}:{function}").model_dump(mode="json")
        note = f"{entrypoint}: parameter schema computed by running the file's top level ({', '.join(unresolved)})"
        return Schema(schema, True, True, (note,))
    schema = generate_parameter_schema(signature, parameter_docstrings(docstring)).model_dump(mode="json")
    notes: tuple[str, ...] = ()
    if unresolved:
        notes = (
            f"{entrypoint}: read without running code; {', '.join(unresolved)} could not be read statically"
            " and count as Any (apply, or plan --allow-exec, runs the file's top level to read them)",
        )
    return Schema(schema, not unresolved, False, notes)


def static_signature(source: str, func: str, root: str = ".") -> tuple[inspect.Signature, str | None, list[str]]:
    """The function's signature from its source, and what could not be read (by name)."""
    from .flow_names import find_def

    tree = ast.parse(source)
    fn = find_def(tree, func)
    if fn is None:
        raise EntrypointError(f"no function {func!r} in the entrypoint file")
    reader = Reader(tree, root)
    unresolved: list[str] = []
    params: list[inspect.Parameter] = []
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    kinds = [inspect.Parameter.POSITIONAL_ONLY] * len(a.posonlyargs) + [inspect.Parameter.POSITIONAL_OR_KEYWORD] * len(
        a.args
    )
    items: list[tuple[ast.arg, ast.expr | None, inspect._ParameterKind]] = list(
        zip(positional, defaults, kinds, strict=True)
    )
    items += [(k, d, inspect.Parameter.KEYWORD_ONLY) for k, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    for arg, default, kind in items:
        annotation: Any = inspect.Parameter.empty
        if arg.annotation is not None:
            try:
                annotation = reader.annotation(arg.annotation)
            except Unresolved:
                unresolved.append(f"the type of {arg.arg!r}")
        value: Any = inspect.Parameter.empty
        if default is not None:
            try:
                value = reader.value(default)
            except Unresolved:
                unresolved.append(f"the default of {arg.arg!r}")
                value = None  # as Prefect when a default cannot be evaluated
        params.append(inspect.Parameter(arg.arg, kind, annotation=annotation, default=value))
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params), ast.get_docstring(fn), unresolved
