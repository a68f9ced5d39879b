"""Annotations and defaults of an entrypoint's function evaluated from its source, without
running the file (spec/entrypoints.py's static reading).

A small interpreter that knows literals, builtins, names imported from the standard
library, prefect, pydantic and typing_extensions (imported for real: trusted, installed
code), and the pydantic models and enums the file defines with plain bodies. Anything else
raises `Unresolved` (the caller counts it as `Any`, or runs Prefect's own path when
execution is allowed)."""

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
from typing import Any

TRUSTED_PACKAGES = frozenset(sys.stdlib_module_names) | {"prefect", "pydantic", "pydantic_core", "typing_extensions"}
_SAFE_BUILTINS = {
    n: getattr(builtins, n)
    for n in ("int", "float", "str", "bool", "bytes", "list", "dict", "tuple", "set", "frozenset", "complex", "object")
}
_SAFE_BUILTINS.update({"None": None, "True": True, "False": False, "Ellipsis": ...})


class Unresolved(Exception):
    """A name, call or construct the static reading does not evaluate."""


class Reader:
    """Evaluates annotations and defaults without running the file (see the module docstring)."""

    def __init__(self, tree: ast.Module, root: str):
        self.root = os.path.realpath(root)
        self.names: dict[str, Any] = {}
        self.unknown: set[str] = set()
        self.models: set[int] = set()  # ids of the pydantic models built here from the file's classes
        for node in tree.body:
            try:
                self._bind(node)
            except Unresolved:
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
                raise Unresolved(node.module or ".")
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
                raise Unresolved("assignment")
            self.names[targets[0].id] = self.value(node.value, types=True)
        else:
            self.unknown |= _bound_names(node)

    def _import(self, name: str) -> Any:
        top = name.split(".")[0]
        if top not in TRUSTED_PACKAGES:
            raise Unresolved(name)
        spec = importlib.util.find_spec(top)  # finds, never runs, the top-level package
        origin = os.path.realpath(spec.origin) if spec and spec.origin else None
        if origin and origin.startswith(self.root + os.sep):
            raise Unresolved(name)  # a project file shadowing a trusted name
        return importlib.import_module(name)

    def _class(self, node: ast.ClassDef) -> Any:
        if node.decorator_list or node.keywords:
            raise Unresolved(node.name)
        bases = tuple(self.value(b, types=True) for b in node.bases)
        if any(isinstance(b, type) and issubclass(b, enum.Enum) for b in bases):
            return self._enum(node, bases)
        import pydantic

        if not bases or not all(isinstance(b, type) and issubclass(b, pydantic.BaseModel) for b in bases):
            raise Unresolved(node.name)
        fields: dict[str, Any] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                annotation = self.annotation(stmt.annotation)
                fields[stmt.target.id] = (annotation, self.value(stmt.value) if stmt.value is not None else ...)
            elif not _inert(stmt):
                raise Unresolved(node.name)
        model = pydantic.create_model(node.name, __base__=bases[0], __doc__=ast.get_docstring(node), **fields)
        self.models.add(id(model))
        return model

    def _enum(self, node: ast.ClassDef, bases: tuple[Any, ...]) -> Any:
        members = []
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                members.append((stmt.targets[0].id, self.value(stmt.value)))
            elif not _inert(stmt):
                raise Unresolved(node.name)
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
                raise Unresolved(text) from None
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
                raise Unresolved(node.id)
            return _SAFE_BUILTINS[node.id]
        if isinstance(node, ast.Attribute) and not node.attr.startswith("_"):
            base = self.value(node.value, types)
            if not (inspect.ismodule(base) or isinstance(base, type)):
                raise Unresolved(node.attr)
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
        raise Unresolved(type(node).__name__)

    def _call(self, node: ast.Call) -> Any:
        """Only pydantic.Field, or a model built here from the file's class (its methods and
        validators are not part of it), called with readable arguments: runs no user code."""
        import pydantic

        fn = self.value(node.func, types=True)
        if fn is not pydantic.Field and id(fn) not in self.models:
            raise Unresolved("a call")
        args = [self.value(a) for a in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords if k.arg}
        if len(kwargs) != len(node.keywords):
            raise Unresolved("a call")
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError):
            raise Unresolved("a call") from None


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
    raise Unresolved(what)


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
