"""`$[ ]` expressions -> Python code for the emitter: `params.x` the parameter, `tasks.t.result`
the result, `.key`/`['key']` subscripts, operators, `a if c else b` and FILTERS. Anything
else raises Unsupported (emit.py turns it into a located `emit.unsupported`). Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, nodes

from pipeform.spec import expressions as ex

from .scope import Unsupported
from .text import Group, interpolate, literal, string

if TYPE_CHECKING:
    from .scope import Emitter

FILTERS = {"length": "len({})", "count": "len({})", "list": "list({})", "sum": "sum({})", "abs": "abs({})"}
FILTERS |= {"string": "str({})", "lower": "str({}).lower()", "upper": "str({}).upper()", "raw": "{}"}
_OPS = {"eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in"}
_BINOPS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "FloorDiv": "//", "Mod": "%", "Pow": "**"}


_PARSER = Environment()


class Refs:
    """How `params.X`, `tasks.X.result` and `inputs.X` read in one place of the emitted code."""

    def __init__(self, emitter: Emitter, mode: str):
        self.e, self.mode = emitter, mode  # mode: body, wrapper, hook, flow_name, task_name
        self.used: dict[str, None] = {}  # wrapper: free variables, in order of use

    def param(self, name: str) -> str:
        if self.mode in ("hook", "flow_name"):
            return f"params[{string(name)}]"
        if self.mode == "task_name":
            return f"inputs[{string(name)}]"
        if name not in self.e.param_names:
            raise Unsupported(f"unknown parameter {name!r}")
        self.used[name] = None
        return name

    def resource(self, root: str, *names: str) -> str:
        """`secrets.X`, `variables.X`, `blocks.TYPE.NAME`: read from the server by pipeform's
        run-time helpers (which also mask secrets in the run's logs)."""
        fn = {"secrets": "read_secret", "variables": "read_variable", "blocks": "read_block"}[root]
        return f"{self.e.use('pipeform.compiler.run_resources', fn)}({', '.join(string(n) for n in names)})"

    def result(self, name: str) -> str:
        if self.mode not in ("body", "wrapper"):
            raise Unsupported("only parameters can be read here (no task results exist yet)")
        var = self.e.var[name]
        self.used[var] = None
        node = self.e.ir.task(name)
        return var if self.mode == "wrapper" or node.runs_in_flow else f"{var}.result()"


def expression(source: str, refs: Refs) -> str:
    return _py(_parsed(source), refs)


@lru_cache(maxsize=1024)
def _parsed(source: str) -> nodes.Node:
    """The expression's Jinja tree (read only, never changed: shared by every use of the same text)."""
    tree = _PARSER.parse("{{ (" + source + ") }}")
    output = tree.body[0]
    assert isinstance(output, nodes.Output)
    return output.nodes[0]


def _py(node: nodes.Node, refs: Refs) -> str:
    def sub(n: nodes.Node) -> str:
        code = _py(n, refs)
        simple = isinstance(n, nodes.Name | nodes.Const | nodes.Getattr | nodes.Getitem | nodes.List | nodes.Dict)
        return code if simple or isinstance(n, nodes.Filter) else f"({code})"

    if isinstance(node, nodes.Const):
        return string(node.value) if isinstance(node.value, str) else repr(node.value)
    if isinstance(node, nodes.Name):
        if node.name in ("params", "inputs") and refs.mode in ("flow_name", "task_name", "hook"):
            return "params" if refs.mode != "task_name" else "inputs"
        raise Unsupported(f"'{node.name}' alone cannot be read; use a path such as params.NAME or tasks.NAME.result")
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        return _path(node, refs, sub)
    if isinstance(node, nodes.List | nodes.Tuple):
        items = ", ".join(_py(i, refs) for i in node.items)
        return f"[{items}]" if isinstance(node, nodes.List) else f"({items}{',' if len(node.items) == 1 else ''})"
    if isinstance(node, nodes.Dict):
        return "{" + ", ".join(f"{_py(p.key, refs)}: {_py(p.value, refs)}" for p in node.items) + "}"
    if isinstance(node, nodes.Compare):
        return " ".join([sub(node.expr), *(f"{_OPS[o.op]} {sub(o.expr)}" for o in node.ops)])
    if isinstance(node, nodes.And | nodes.Or):
        return f"{sub(node.left)} {type(node).__name__.lower()} {sub(node.right)}"
    if isinstance(node, nodes.Not):
        return f"not {sub(node.node)}"
    if isinstance(node, nodes.Neg | nodes.Pos):
        return ("-" if isinstance(node, nodes.Neg) else "+") + sub(node.node)
    if isinstance(node, nodes.BinExpr) and type(node).__name__ in _BINOPS:
        return f"{sub(node.left)} {_BINOPS[type(node).__name__]} {sub(node.right)}"
    if isinstance(node, nodes.Concat):
        return " + ".join(f"str({_py(n, refs)})" for n in node.nodes)
    if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
        return f"{sub(node.expr1)} if {sub(node.test)} else {sub(node.expr2)}"
    if isinstance(node, nodes.Filter) and node.node and node.name in FILTERS and not (node.args or node.kwargs):
        return FILTERS[node.name].format(_py(node.node, refs))
    kinds: dict[type[nodes.Node], str] = {nodes.Filter: "filter", nodes.Test: "test", nodes.Call: "a call"}
    what = kinds.get(type(node), type(node).__name__)
    what += f" '{node.name}'" if isinstance(node, nodes.Filter | nodes.Test) else ""
    raise Unsupported(f"{what} has no plain-Python equivalent in emitted code")


def _path(node: nodes.Getattr | nodes.Getitem, refs: Refs, sub: Callable[[nodes.Node], str]) -> str:
    """`params.x`, `tasks.t.result`, `.key` and `[...]` on a value."""
    key = node.attr if isinstance(node, nodes.Getattr) else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        key = node.arg.value
    base = node.node
    if isinstance(base, nodes.Name) and base.name in ("params", "inputs") and key is not None:
        if base.name == "inputs" and refs.mode != "task_name":
            raise Unsupported("'inputs' exists only in a task's run_name")
        return refs.param(key)
    if isinstance(base, nodes.Name) and base.name in ("secrets", "variables") and key is not None:
        return refs.resource(base.name, key)
    if isinstance(base, nodes.Name) and base.name == "blocks":
        raise Unsupported("a block is read as blocks.TYPE.NAME")
    if (
        isinstance(base, nodes.Getattr | nodes.Getitem)
        and isinstance(base.node, nodes.Name)
        and base.node.name == "blocks"
    ):
        slug = base.attr if isinstance(base, nodes.Getattr) else _const_key(base)
        if slug is None or key is None:
            raise Unsupported("a block is read as blocks.TYPE.NAME")
        return refs.resource("blocks", slug, key)
    if isinstance(base, nodes.Name) and base.name == "tasks":
        raise Unsupported("a task is read through its result: tasks.NAME.result")
    if (
        isinstance(base, nodes.Getattr | nodes.Getitem)
        and isinstance(base.node, nodes.Name)
        and base.node.name == "tasks"
    ):
        if key != "result":
            raise Unsupported(f"tasks.NAME.{key} is not a result; use tasks.NAME.result")
        name = base.attr if isinstance(base, nodes.Getattr) else _const_key(base)
        if name is None:
            raise Unsupported("tasks[...] needs a task name")
        return refs.result(name)
    if key is not None:
        return f"{sub(base)}[{string(key)}]"
    assert isinstance(node, nodes.Getitem)  # a Getattr always has a key
    if isinstance(node.arg, nodes.Slice):
        s = node.arg
        parts = [_py(p, refs) if p is not None else "" for p in (s.start, s.stop)]
        step = f":{_py(s.step, refs)}" if s.step is not None else ""
        return f"{sub(base)}[{parts[0]}:{parts[1]}{step}]"
    return f"{sub(base)}[{_py(node.arg, refs)}]"


def _const_key(node: nodes.Getitem) -> str | None:
    arg = node.arg
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


def value(v: Any, refs: Refs) -> Any:
    """A JSON-like spec value with $[ ] strings -> code chunks."""
    if isinstance(v, dict):
        return Group("{", [[string(str(k)), ": ", value(x, refs)] for k, x in v.items()], "}") if v else "{}"
    if isinstance(v, list | tuple):
        return Group("[", [[value(x, refs)] for x in v], "]") if v else "[]"
    if not isinstance(v, str) or "$[" not in v:
        return literal(v)
    parts = ex.split(v, ex.RUN_TIME)
    if all(isinstance(p, str) for p in parts):  # only escaped `\$[`: plain text
        return literal("".join(parts))  # type: ignore[arg-type]
    if len(parts) == 1 and isinstance(parts[0], ex.Expr):
        return expression(parts[0].source, refs)
    codes = [p if isinstance(p, str) else refs.e.text(p.source, expression(p.source, refs)) for p in parts]
    if all(isinstance(p, str) or re.fullmatch(r"[\w.()]+", c) for p, c in zip(parts, codes, strict=True)):
        return interpolate([(not isinstance(p, str), c) for p, c in zip(parts, codes, strict=True)])
    return " + ".join(string(c) if isinstance(p, str) else c for p, c in zip(parts, codes, strict=True))
