"""The state of emitting one module: names taken, imports, helpers and top-level blocks
written so far, the flow body's variable of each task, and the problems found."""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeform.spec.diagnostics import Diagnostic, Origin

from ..actions import Callee
from ..ir import FlowIR, PythonCall, TaskIR
from ..options import CACHE_POLICIES
from ..plan import ExecutionPlan
from .helpers import HELPER_IMPORTS, HELPERS
from .text import identifier, module_name

# Library names imported as they are; names the emitter invents (tasks, hooks, aliases) avoid them.
LIBRARY_NAMES = {"flow", "task", "unmapped", "allow_failure", "tags", "runtime", "get_run_logger", "pause_flow_run"}
LIBRARY_NAMES |= {"Field", "Literal", "Annotated", "Any", "Callable", "State", "Completed", "PrefectFuture", "RunInput"}
LIBRARY_NAMES |= {"timedelta", "expanduser", "subprocess", "LocalFileSystem", "rate_limit", "concurrency"}
LIBRARY_NAMES |= {"ThreadPoolTaskRunner", "ProcessPoolTaskRunner", "DaskTaskRunner", "RayTaskRunner"}
LIBRARY_NAMES |= {"run_shell", "run_deployment", "argparse", "json", *CACHE_POLICIES.values()}
# Module-level names the flow body itself uses: a parameter of the same name would hide them.
BODY_NAMES = {"unmapped", "allow_failure", "tags", "get_run_logger", "pause_flow_run", *HELPERS} - {"param_arg"}
BODY_NAMES |= {"len", "list", "str", "sum", "abs", "any", "f", "results"}
# Names an invented name never takes (with the flow's parameters and imported modules).
RESERVED = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(HELPERS) | LIBRARY_NAMES

OriginOf = Callable[..., Origin | None]


class Unsupported(Exception):
    """Something the emitted module cannot do as the in-memory flow does (emit.unsupported)."""


def _top_module(path: str) -> str:
    return path.split(".")[0].split(":")[0]


@dataclass
class Emitter:
    plan: ExecutionPlan
    origin: OriginOf | None = None
    imports: dict[tuple[str, str], str] = field(default_factory=dict)  # (module, name) -> local name
    taken: set[str] = field(default_factory=set)
    helpers: dict[str, None] = field(default_factory=dict)
    defs: list[str] = field(default_factory=list)  # top-level blocks before the flow
    var: dict[str, str] = field(default_factory=dict)  # task name -> variable in the flow body
    diagnostics: list[Diagnostic] = field(default_factory=list)
    objects: dict[str, str] = field(default_factory=dict)  # task name -> module-level task object
    wrappers: dict[str, list[str] | None] = field(default_factory=dict)  # task -> wrapper's parameters
    base: int = 4  # indent of the flow body's statements

    def __post_init__(self) -> None:
        ir = self.ir
        self.param_names = {p.name for p in ir.params}
        self.taken = self.param_names | RESERVED
        for node in (*ir.tasks, *ir.hook_tasks):  # `import pkg.mod` binds `pkg`
            if isinstance(node.action, PythonCall):
                self.taken.add(_top_module(node.action.path))
            self.taken |= {_top_module(h.python) for h in node.hooks if h.python}
        self.taken |= {_top_module(h.python) for h in ir.hooks if h.python}
        self.flow_fn = self.fresh(module_name(ir.name))
        self.maybe_skipped = {s.name for s in self.plan.steps if s.may_skip}
        for node in ir.tasks:
            self.var[node.name] = self.fresh(node.name)
        # Tasks some task reads the result of / names in depends_on (task_var_needed, per task).
        self.data_read = frozenset().union(*(n.data_deps for n in ir.tasks))
        self.order_read = frozenset().union(*(n.order_deps for n in ir.tasks))

    @property
    def ir(self) -> FlowIR:
        return self.plan.flow

    def fresh(self, name: str) -> str:
        name = identifier(name)
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name

    def use(self, module: str, name: str) -> str:
        """The local name of `module.name`, imported once (aliased if the name is taken)."""
        if module == "":  # an emitted helper
            self.helper(name)
            return name
        key = (module, name)
        if key not in self.imports:
            self.imports[key] = name if name in LIBRARY_NAMES else self.fresh(name) if name else module
        return self.imports[key]

    def helper(self, name: str) -> str:
        if name not in self.helpers:
            for module, imported in HELPER_IMPORTS.get(name, []):
                self.use(module, imported)
            self.helpers[name] = None
        return name

    def callable(self, path: str) -> str:
        """`pkg.mod:fn` -> `pkg.mod.fn` with `import pkg.mod` (no name of the user's can clash)."""
        module, _, attr = path.partition(":")
        return f"{self.use(module, '')}.{attr}"

    def callee(self, c: Callee) -> str:
        return self.callable(c.path) if c.user else self.use(c.module, c.attr)

    def text(self, source: str, code: str) -> str:
        """Code of an expression written into a string: str-like parameters as they are."""
        p = next((p.spec for p in self.ir.params if source.replace(" ", "") == f"params.{p.name}"), None)
        textual = p is not None and p.type in ("string", "integer", "number") and (p.default is not None or p.required)
        if p is not None and textual and not any(isinstance(v, bool) or v is None for v in p.enum or []):
            return code
        return f"{self.helper('as_text')}({code})"

    def refuse(self, node: TaskIR | None, message: str, where: tuple[str | int, ...] = ()) -> None:
        source = node.source if node is not None else self.ir.source
        origin = self.origin(source[0], source[1], (*source[2], *where)) if self.origin and source else None
        self.diagnostics.append(
            Diagnostic("emit.unsupported", message, origin, hint="keep it in the YAML flow (pipeform run / deploy)")
        )

    def task_var_needed(self, node: TaskIR) -> bool:
        """Does the flow body read the node's variable after assigning it?"""
        if not node.runs_in_flow and not node.options.continue_on_failure:
            return True  # raise_failures reads every future
        name = node.name
        read = name in self.data_read or (name in self.order_read and not node.runs_in_flow)
        if self.plan.returns is None:  # the leaves are returned
            return read or (name not in self.data_read and name not in self.order_read)
        return read or name in self.plan.returns.reads
