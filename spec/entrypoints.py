"""Python entrypoints (`file.py:function`) examined without running them.

A spec from a pull request names the entrypoint, so nothing in it may run during
validate or plan:
- `resolve`: the file must stay inside the project root (symlinks followed), exist, parse,
  and define the function (located diagnostics in the spec stage).
- `parameter_schema`: the schema Prefect's `parameter_schema_from_entrypoint` computes,
  built from the source alone. Annotations and defaults are evaluated by a small
  interpreter that knows literals, builtins, names imported from the standard library,
  prefect, pydantic and typing_extensions (imported for real: trusted, installed code),
  and the pydantic models and enums the file defines with plain bodies. Prefect's own
  path executes the file's top-level imports and class bodies (`safe_load_namespace`);
  it is used only when the static reading is incomplete *and* execution is allowed
  (`allow_exec`: apply, or `plan --allow-exec`; never with `--untrusted` or
  PIPEFORM_UNTRUSTED=1). Otherwise the schema says `Any` where the reading stopped, and
  the result's `notes` say so.
"""

from __future__ import annotations

import ast
import builtins
import enum
import importlib
import importlib.util
import inspect
import os
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_SOURCE_BYTES = 4 * 1024 * 1024  # an entrypoint file larger than this is not analysed
UNTRUSTED_ENV = "PIPEFORM_UNTRUSTED"  # "1": no user code runs, whatever the command
TRUSTED_PACKAGES = frozenset(sys.stdlib_module_names) | {"prefect", "pydantic", "pydantic_core", "typing_extensions"}
_SAFE_BUILTINS = {
    n: getattr(builtins, n)
    for n in ("int", "float", "str", "bool", "bytes", "list", "dict", "tuple", "set", "frozenset", "complex", "object")
}
_SAFE_BUILTINS.update({"None": None, "True": True, "False": False, "Ellipsis": ...})


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
    from .flow_names import module_path, source_file

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
    if module is not None and "." in func:
        func = func.rsplit(".", 1)[-1]  # pkg.mod:Class.method
    if not os.path.isfile(full):
        message = f"entrypoint file {rel} does not exist in the project folder"
        return Resolved(None, func, ("entrypoint.not-found", message), "warning")
    tree, problem = _parse(full)
    if tree is None:
        return Resolved(full, func, ("entrypoint.invalid", f"{rel}: {problem}"))
    if _function(tree, func) is None:
        # `x = flow(fn)`, `x = Flow(fn=...)`, `x = f.with_options(...)`: the flow's parameters
        # are its function's (Prefect's parameter_schema reads flow.fn), read statically
        from .flow_names import resolve as flow_name

        wrapped = flow_name(root, entrypoint).function
        if wrapped and _function(tree, wrapped) is not None:
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


def _function(tree: ast.AST, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    # The first match in ast.walk order, as Prefect's _generate_signature_from_source.
    return next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name), None
    )


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

        schema = parameter_schema_from_entrypoint(f"{found.path}:{found.function}").model_dump(mode="json")
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


class _Unresolved(Exception):
    pass


def static_signature(source: str, func: str, root: str = ".") -> tuple[inspect.Signature, str | None, list[str]]:
    """The function's signature from its source, and what could not be read (by name)."""
    tree = ast.parse(source)
    fn = _function(tree, func)
    if fn is None:
        raise EntrypointError(f"no function {func!r} in the entrypoint file")
    reader = _Reader(tree, root)
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
            except _Unresolved:
                unresolved.append(f"the type of {arg.arg!r}")
        value: Any = inspect.Parameter.empty
        if default is not None:
            try:
                value = reader.value(default)
            except _Unresolved:
                unresolved.append(f"the default of {arg.arg!r}")
                value = None  # as Prefect when a default cannot be evaluated
        params.append(inspect.Parameter(arg.arg, kind, annotation=annotation, default=value))
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params), ast.get_docstring(fn), unresolved


class _Reader:
    """Evaluates annotations and defaults without running the file (see the module docstring)."""

    def __init__(self, tree: ast.Module, root: str):
        self.root = os.path.realpath(root)
        self.names: dict[str, Any] = {}
        self.unknown: set[str] = set()
        self.models: set[int] = set()  # ids of the pydantic models built here from the file's classes
        for node in tree.body:
            try:
                self._bind(node)
            except _Unresolved:
                self.unknown |= _bound_names(node)
            except Exception:  # trusted modules imported, but something about them is odd
                self.unknown |= _bound_names(node)

    # --- top level ---------------------------------------------------------------------

    def _bind(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = self._import(alias.name)
                self.names[alias.asname or alias.name.split(".")[0]] = (
                    module if alias.asname else self._import(alias.name.split(".")[0])
                )
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                raise _Unresolved(node.module or ".")
            module = self._import(node.module)
            for alias in node.names:
                if alias.name == "*":
                    self.names.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
                    continue
                value = getattr(module, alias.name, None)
                if value is None:
                    value = self._import(f"{node.module}.{alias.name}")
                self.names[alias.asname or alias.name] = value
        elif isinstance(node, ast.ClassDef):
            self.names[node.name] = self._class(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and not isinstance(node, ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is None or len(targets) != 1 or not isinstance(targets[0], ast.Name):
                raise _Unresolved("assignment")
            self.names[targets[0].id] = self.value(node.value, types=True)
        else:
            self.unknown |= _bound_names(node)

    def _import(self, name: str) -> Any:
        top = name.split(".")[0]
        if top not in TRUSTED_PACKAGES:
            raise _Unresolved(name)
        spec = importlib.util.find_spec(top)  # finds, never runs, the top-level package
        origin = os.path.realpath(spec.origin) if spec and spec.origin else None
        if origin and origin.startswith(self.root + os.sep):
            raise _Unresolved(name)  # a project file shadowing a trusted name
        return importlib.import_module(name)

    def _class(self, node: ast.ClassDef) -> Any:
        if node.decorator_list or node.keywords:
            raise _Unresolved(node.name)
        bases = tuple(self.value(b, types=True) for b in node.bases)
        if any(isinstance(b, type) and issubclass(b, enum.Enum) for b in bases):
            return self._enum(node, bases)
        import pydantic

        if not bases or not all(isinstance(b, type) and issubclass(b, pydantic.BaseModel) for b in bases):
            raise _Unresolved(node.name)
        fields: dict[str, Any] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                annotation = self.annotation(stmt.annotation)
                fields[stmt.target.id] = (annotation, self.value(stmt.value) if stmt.value is not None else ...)
            elif not _inert(stmt):
                raise _Unresolved(node.name)
        model = pydantic.create_model(node.name, __base__=bases[0], __doc__=ast.get_docstring(node), **fields)
        self.models.add(id(model))
        return model

    def _enum(self, node: ast.ClassDef, bases: tuple[Any, ...]) -> Any:
        members = []
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                members.append((stmt.targets[0].id, self.value(stmt.value)))
            elif not _inert(stmt):
                raise _Unresolved(node.name)
        mixin = next((b for b in bases if not issubclass(b, enum.Enum)), None)
        kind = next(b for b in bases if issubclass(b, enum.Enum))
        made = kind(node.name, members, type=mixin) if mixin else kind(node.name, members)
        if ast.get_docstring(node):
            made.__doc__ = ast.get_docstring(node)
        return made

    # --- expressions -------------------------------------------------------------------

    def annotation(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a forward reference
            text = node.value
            try:
                node = ast.parse(text, mode="eval").body
            except SyntaxError:
                raise _Unresolved(text) from None
        return self.value(node, types=True)

    def value(self, node: ast.expr, types: bool = False) -> Any:
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in self.unknown or node.id not in _SAFE_BUILTINS:
                raise _Unresolved(node.id)
            return _SAFE_BUILTINS[node.id]
        if isinstance(node, ast.Attribute) and not node.attr.startswith("_"):
            base = self.value(node.value, types)
            if not (inspect.ismodule(base) or isinstance(base, type)):
                raise _Unresolved(node.attr)
            return _typelike(getattr(base, node.attr), node.attr)
        if isinstance(node, ast.Subscript) and types:
            base, index = _typelike(self.value(node.value, types), "a subscript"), node.slice
            args = tuple(self.value(e, types) for e in index.elts) if isinstance(index, ast.Tuple) else None
            return base[args if args is not None else self.value(index, types)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and types:
            return typing.Union[self.value(node.left, types), self.value(node.right, types)]  # noqa: UP007
        if isinstance(node, ast.List | ast.Tuple) and types:
            items = [self.value(e, types) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Call) and not (node.args and any(isinstance(a, ast.Starred) for a in node.args)):
            return self._call(node)
        raise _Unresolved(type(node).__name__)

    def _call(self, node: ast.Call) -> Any:
        """Only pydantic.Field, or a model built here from the file's class (its methods and
        validators are not part of it), called with readable arguments: runs no user code."""
        import pydantic

        fn = self.value(node.func, types=True)
        if fn is not pydantic.Field and id(fn) not in self.models:
            raise _Unresolved("a call")
        args = [self.value(a) for a in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords if k.arg}
        if len(kwargs) != len(node.keywords):
            raise _Unresolved("a call")
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError):
            raise _Unresolved("a call") from None


def _typelike(value: Any, what: str) -> Any:
    """Only types, typing constructs, modules and enum members come out of an attribute or
    go into a subscript: never data of a module (os.environ, sys.argv) that a default
    would carry into a plan."""
    if inspect.ismodule(value) or isinstance(value, type | enum.Enum) or value is None:
        return value
    if type(value).__module__ in ("typing", "typing_extensions", "types") or value is typing.Any:
        return value
    if callable(value) and getattr(value, "__module__", "").startswith(("pydantic", "typing")):
        return value  # pydantic.Field, typing.Annotated helpers
    raise _Unresolved(what)


def _inert(stmt: ast.stmt) -> bool:
    """Statements of a class body that do not change its fields: docstring, pass, methods."""
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True
    return isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)


def _bound_names(node: ast.stmt) -> set[str]:
    """Every name a top-level statement may bind (so a later reference is not guessed)."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(sub.name)
        elif isinstance(sub, ast.alias):
            names.add((sub.asname or sub.name).split(".")[0])
    return names
