"""The Prefect flow name of an entrypoint, read from its source without importing it.

`prefect deploy` imports the entrypoint and uses `flow.name`, which Prefect sets to
`@flow(name=...)`, or else to the function's name with '_' turned into '-'. Reading the
module's syntax tree gives the same answer for every name written as a literal (or a
module-level string constant) and never executes the file, so `pipeform validate` can run
on untrusted specs. A name that is computed (an f-string, a call, an import) is reported
as such; only `import_flow_name` (used by `pipeform convert` and `--check-imports`, never by
validate or plan) imports the module to learn it.

Handled, as the module binds them at import (the last top-level binding wins):
`@flow` / `@flow()` / `@flow(name=...)` / `@prefect.flow(...)` on a def or async def;
`x = flow(fn)`, `x = flow(name=...)(fn)`, `x = Flow(fn=..., name=...)`, and
`x = other.with_options(name=...)`; after the colon an attribute path, as Prefect's
import_object follows it (`Class.method`, `Outer.Inner.method`, `instance.method` of a
module-level `instance = Class()`; a flow method with `@staticmethod` / `@classmethod`).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

How = Literal["decorator", "function", "object", "computed", "not-a-flow", "missing", "unreadable"]
MAX_SOURCE_BYTES = 2 * 1024 * 1024  # a larger "source file" is not read (reported as unreadable)


@dataclass(frozen=True)
class FlowName:
    name: str | None  # None when the source does not say (see `how`)
    how: How
    detail: str = ""  # what was found, for diagnostics
    line: int | None = None  # line of the definition in the source file
    function: str | None = None  # the function the flow wraps (its signature is the flow's)
    description: str | None = None  # Flow.description: `description=`, else the function's docstring


def default_name(function: str) -> str:
    """Prefect's default flow name for a function."""
    return function.replace("_", "-").replace("<lambda>", "unknown-lambda")


def module_path(entrypoint: str) -> tuple[str, str] | None:
    """(module, object) of a module-path entrypoint (`pkg.mod.obj`, `pkg.mod:obj`), as
    Prefect's import_object splits it; None for `path/to/file.py:obj`."""
    if ".py:" in entrypoint:
        return None
    module, sep, obj = entrypoint.rpartition(":")
    if not sep:
        module, _, obj = entrypoint.rpartition(".")
    return module, obj


def function_of(entrypoint: str) -> str:
    """The function an entrypoint names (of `Class.method`, the method)."""
    found = module_path(entrypoint)
    obj = found[1] if found else entrypoint.rsplit(":", 1)[-1]
    return obj.rsplit(".", 1)[-1]


def source_file(root: str | Path, entrypoint: str) -> tuple[Path, str]:
    """(file, object path) of `path/to/file.py:obj` or of a module path `pkg.mod.obj`: the
    project's `pkg/mod.py` or `pkg/mod/__init__.py` (what Prefect's load_module imports
    first: it puts the working directory, the project folder, first on sys.path)."""
    found = module_path(entrypoint)
    if found is None:
        path, obj = entrypoint.rsplit(":", 1)
        return Path(root) / path, obj
    module, obj = found
    base = Path(root, *module.split("."))
    return (base / "__init__.py" if base.is_dir() else base.with_suffix(".py")), obj


def resolve(root: str | Path, entrypoint: str) -> FlowName:
    """The flow name the entrypoint's source declares (see the module docstring)."""
    file, obj = source_file(root, entrypoint)
    base = os.path.realpath(root)
    if os.path.commonpath([base, os.path.realpath(file)]) != base:  # never read outside the project
        return FlowName(None, "unreadable", f"{file} is outside the project folder")
    try:
        if file.stat().st_size > MAX_SOURCE_BYTES:
            return FlowName(None, "unreadable", f"{file} is larger than {MAX_SOURCE_BYTES} bytes")
        tree = ast.parse(file.read_bytes(), filename=str(file))
    except FileNotFoundError:
        return FlowName(None, "missing", f"{file} not found")
    except (OSError, SyntaxError, ValueError, RecursionError) as exc:
        return FlowName(None, "unreadable", f"{file}: {exc}")
    body, name, problem = object_scope(tree.body, obj)
    if body is None:
        return problem
    return _from_bindings(body, name, _constants(tree.body))


def _binds(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    return isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name


def _binding(body: list[ast.stmt], name: str) -> ast.stmt | None:
    """The last statement of `body` binding `name` (what the module binds at import)."""
    return next((n for n in reversed(body) if _binds(n, name)), None)


def object_scope(body: list[ast.stmt], path: str) -> tuple[list[ast.stmt] | None, str, FlowName]:
    """(the body binding the last name of an object path, that name, why not): Prefect's
    import_object reads `Class.method`, `Outer.Inner.method` and `instance.method` by getattr
    after the colon; statically, each name before the last is a class the file defines (or a
    module-level instance of one, `jobs = Jobs()`: its class's attributes)."""
    *owners, last = path.split(".")
    for owner in owners:
        node = _binding(body, owner)
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):  # an instance: its class
            cls = _binding(body, value.func.id)
            node = cls if isinstance(cls, ast.ClassDef) else node
        if node is None:
            return None, last, FlowName(None, "not-a-flow", f"no definition of {owner!r} (in {path})")
        if not isinstance(node, ast.ClassDef):
            what = f"{owner!r} (in {path}) is not a class the file defines"
            return None, last, FlowName(None, "computed", what, getattr(node, "lineno", None))
        body = node.body
    return body, last, FlowName(None, "not-a-flow")


def find_def(tree: ast.Module, path: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function an entrypoint's object path names: a bare name is the first function of
    that name in ast.walk order (as Prefect's _generate_signature_from_source finds it); a
    dotted one (`Class.method`) the method its classes bind."""
    if "." not in path:
        return next(
            (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == path),
            None,
        )
    body, name, _ = object_scope(tree.body, path)
    node = _binding(body, name) if body is not None else None
    return node if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else None


def _constants(body: list[ast.stmt]) -> dict[str, str]:
    """Module-level `NAME = "text"` bindings (a later one wins), for `@flow(name=NAME)`."""
    out: dict[str, str] = {}
    for node in body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node.value.value
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out[node.target.id] = node.value.value
    return out


def _from_bindings(body: list[ast.stmt], name: str, consts: dict[str, str]) -> FlowName:
    found = FlowName(None, "not-a-flow", f"no top-level definition of {name!r}")
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            found = _from_function(node, consts)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            found = _from_expr(node.value, body, consts, node.lineno, depth=0)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            found = _from_expr(node.value, body, consts, node.lineno, depth=0) if node.value else found
    return found


def _is_flow(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in ("flow", "Flow")) or (
        isinstance(func, ast.Attribute) and func.attr in ("flow", "Flow")
    )


def _name_kwarg(call: ast.Call, consts: dict[str, str], line: int, fallback: FlowName) -> FlowName:
    for kw in call.keywords:
        if kw.arg == "name":
            value = kw.value
            if isinstance(value, ast.Constant) and value.value in (None, ""):  # Prefect: `name or default`
                return fallback
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return FlowName(value.value, "decorator", "name=", line)
            if isinstance(value, ast.Name) and value.id in consts:
                return FlowName(consts[value.id], "decorator", f"name={value.id}", line)
            return FlowName(None, "computed", f"name={ast.unparse(value)}", line)
        if kw.arg is None:  # **options: the name may be inside
            return FlowName(None, "computed", f"**{ast.unparse(kw.value)}", line)
    return fallback


def _literal(call: ast.Call, key: str, consts: dict[str, str]) -> str | None:
    """A keyword argument written as a literal string (or a module-level constant)."""
    for kw in call.keywords:
        if kw.arg == key:
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                return kw.value.value
            if isinstance(kw.value, ast.Name):
                return consts.get(kw.value.id)
    return None


def _wrapping(
    found: FlowName, body: list[ast.stmt], fn: str | None, call: ast.Call | None, consts: dict[str, Any]
) -> FlowName:
    """The flow's function and description, as Flow() sets them: `description or
    inspect.getdoc(fn)` (ast.get_docstring cleans it the same way)."""
    node = next((n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == fn), None)
    doc = ast.get_docstring(node) if node is not None else None
    return replace(found, function=fn, description=(_literal(call, "description", consts) if call else None) or doc)


def _from_function(node: ast.FunctionDef | ast.AsyncFunctionDef, consts: dict[str, str]) -> FlowName:
    default = FlowName(default_name(node.name), "function", f"function {node.name}", node.lineno)
    found = FlowName(None, "not-a-flow", f"{node.name} has no @flow decorator", node.lineno)
    for dec in reversed(node.decorator_list):  # the outermost decorator is applied last
        if _is_flow(dec):
            found = _wrapping(default, [node], node.name, None, consts)
        elif isinstance(dec, ast.Call) and _is_flow(dec.func):
            found = _wrapping(_name_kwarg(dec, consts, node.lineno, default), [node], node.name, dec, consts)
    return found


def _from_expr(value: ast.expr, body: list[ast.stmt], consts: dict[str, str], line: int, depth: int) -> FlowName:
    unknown = FlowName(None, "computed", ast.unparse(value)[:80], line)
    if depth > 8 or not isinstance(value, ast.Call):
        return unknown
    func = value.func
    if _is_flow(func):  # flow(fn, name=...) / Flow(fn=..., name=...)
        fn = value.args[0] if value.args else next((k.value for k in value.keywords if k.arg == "fn"), None)
        if not isinstance(fn, ast.Name):
            return _name_kwarg(value, consts, line, unknown)
        named = _name_kwarg(value, consts, line, FlowName(default_name(fn.id), "object", f"flow({fn.id})", line))
        return _wrapping(named, body, fn.id, value, consts)
    if isinstance(func, ast.Call) and _is_flow(func.func) and value.args:  # flow(name=...)(fn)
        fn = value.args[0]
        if not isinstance(fn, ast.Name):
            return _name_kwarg(func, consts, line, unknown)
        named = _name_kwarg(func, consts, line, FlowName(default_name(fn.id), "object", f"flow(...)({fn.id})", line))
        return _wrapping(named, body, fn.id, func, consts)
    if isinstance(func, ast.Attribute) and func.attr == "with_options" and isinstance(func.value, ast.Name):
        base = _from_bindings(body, func.value.id, consts) if depth < 8 else unknown
        named = _name_kwarg(value, consts, line, base)  # with_options: `description or self.description`
        description = _literal(value, "description", consts) or base.description
        return replace(named, function=base.function, description=description)
    return unknown


def import_flow_name(root: str | Path, entrypoint: str, timeout: float = 120.0) -> tuple[str | None, str]:
    """Import the entrypoint in a child process (as `prefect deploy` does) and return
    (flow.name, error). Executes the user's code: only for `convert` and `--check-imports`."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys; sys.path.insert(0, '.');"
        "from prefect.flows import load_flow_from_entrypoint;"
        "print(json.dumps(load_flow_from_entrypoint(sys.argv[1]).name))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, entrypoint],
            cwd=str(root),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or ["import failed"])[-1]
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, "no flow name printed"


def annotate(documents: list[Any], root: str, locate: Callable[..., Any]) -> list[Any]:
    """Give each entrypoint Deployment its resolved flow name (read by
    deployment_flow_name) and return the located warnings: a declared `flow_name`
    that differs from the entrypoint's, a computed name pipeform cannot read."""
    from .diagnostics import Diagnostic

    out = []
    for doc in documents:
        spec = getattr(doc, "spec", None)
        if getattr(doc, "kind", None) != "Deployment" or spec is None or not spec.entrypoint:
            continue
        found = resolve(root, spec.entrypoint)
        name = doc.metadata.name
        spec._entrypoint_flow_name = found.name
        spec._entrypoint_description = found.description
        if found.how == "computed" and not spec.flow_name:
            out.append(
                Diagnostic(
                    "flow.name-computed",
                    f"the flow name of {spec.entrypoint} is computed ({found.detail}); pipeform reads sources without "
                    f"importing them and uses {default_name(function_of(spec.entrypoint))!r}",
                    locate("Deployment", name, ("spec", "entrypoint")),
                    "warning",
                    hint="set flow_name to the name the flow gets, or run `pipeform validate --check-imports`",
                )
            )
        elif found.name is not None and spec.flow_name and spec.flow_name != found.name:
            out.append(
                Diagnostic(
                    "flow.name-mismatch",
                    f"flow_name {spec.flow_name!r} differs from the name the entrypoint declares ({found.name!r}, "
                    f"line {found.line}); `prefect deploy` would name the flow {found.name!r}",
                    locate("Deployment", name, ("spec", "flow_name")),
                    "warning",
                    hint=f"remove flow_name, or set it to {found.name!r}",
                )
            )
    return out


def deployment_flow_name(spec: Any) -> str:
    """The Prefect flow name of a Deployment document's spec (its address is FLOW/NAME)."""
    if spec.flow:
        return str(spec.flow)
    if spec.flow_name:
        return str(spec.flow_name)
    name: str = spec._entrypoint_flow_name or default_name(function_of(spec.entrypoint))
    return name
