"""IR -> Python source: one readable module of plain Prefect code per flow. Pure: no Prefect.

The emitted module does what the in-memory flow (build.py + walk.py) does, written out:
module-level `task(callable, name=..., options)` objects (a small `@task` wrapper when an
argument computes on upstream results inside the task, or a concurrency limit is held),
and one `@flow` function whose keyword-only signature is the parameter schema. Its body
submits the tasks in the walk's order: a whole upstream result is passed as its future,
`depends_on` becomes `wait_for` (`allow_failure` for `continue_on_failure`), `map` uses
`.map()` with `unmapped`, a false `when` records a "Skipped" task run, and at the end
every task must have completed. A subflow calls the sibling module's flow function
(`from child_flow import child_flow`: OUTDIR on sys.path, as when running a file there).
Shell, run-deployment and concurrency-limit tasks call helpers of `pipeform.compiler`.

`$[ ]` expressions become Python: `params.x` the parameter, `tasks.t.result` the result,
`.key` and `['key']` subscripts (results are JSON-like), operators, `a if c else b`, and
the filters in emit_expr.FILTERS. Anything else raises CompileError with `emit.unsupported`
located at the task, never code that would behave differently.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeform.spec import expressions as ex
from pipeform.spec.diagnostics import Diagnostic, Origin

from .emit_expr import Refs, Unsupported, value
from .emit_text import (
    WIDTH,
    Group,
    call,
    docstring,
    flat,
    identifier,
    indented,
    interpolate,
    layout,
    literal,
    module_name,
    string,
)
from .ir import FlowIR, HookIR, TaskIR
from .lower import CompileError
from .params import _typed_items
from .walk import _blocks, _reads, _whole_result

_POLICIES = {"default": "DEFAULT", "inputs": "INPUTS", "task_source": "TASK_SOURCE"}
_POLICIES |= {"flow_parameters": "FLOW_PARAMETERS", "run_id": "RUN_ID", "none": "NO_CACHE"}
_PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list"}
_PY_TYPES |= {"object": "dict", "null": "None"}

HELPERS = {
    "SKIPPED": """\
SKIPPED = object()  # the value of a task that did not run""",
    "skip": '''\
def skip(name: str, why: str) -> object:
    """Record a task that does not run as a task run of its own, Completed and named "Skipped"."""

    def skipped() -> State:
        return Completed(name="Skipped", message=f"skipped: {why}")

    task(skipped, name=name, cache_policy=NO_CACHE, description=f"skipped: {why}")()
    return SKIPPED''',
    "raise_failures": '''\
def raise_failures(futures: dict[str, Any]) -> None:
    """Fail the flow run unless every task run completed (mapped tasks: every one)."""
    failed = []
    for name, value in futures.items():
        for future in value if isinstance(value, list) else [value]:
            if isinstance(future, PrefectFuture):
                future.wait()
                if not future.state.is_completed():
                    failed.append(f"{name} ({future.state.name}: {future.state.message or ''})".strip())
    if failed:
        raise RuntimeError("tasks did not complete: " + "; ".join(failed))''',
    "as_text": '''\
def as_text(value: Any) -> str:
    """A value written into a string as pipeform writes it: true/false, nothing for None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)''',
    "retry_on": '''\
def retry_on(*names: str) -> Callable[..., bool]:
    """A retry condition: retry only when the exception's class (or a base) is named."""

    def should_retry(task: Any, task_run: Any, state: State) -> bool:
        exc = state.result(raise_on_failure=False)
        classes = type(exc).__mro__ if isinstance(exc, BaseException) else ()
        return any(n in (c.__name__, f"{c.__module__}.{c.__name__}") for c in classes for n in names)

    return should_retry''',
}
# what each helper needs: (module, name) imports
_HELPER_IMPORTS = {
    "skip": [
        ("prefect", "task"),
        ("prefect.cache_policies", "NO_CACHE"),
        ("prefect.states", "Completed"),
        ("prefect.states", "State"),
        ("", "SKIPPED"),
    ],
    "raise_failures": [("typing", "Any"), ("prefect.futures", "PrefectFuture")],
    "as_text": [("typing", "Any")],
    "retry_on": [("collections.abc", "Callable"), ("typing", "Any"), ("prefect.states", "State")],
}


# Library names imported as they are; names the emitter invents (tasks, hooks, aliases) avoid them.
LIBRARY_NAMES = {"flow", "task", "unmapped", "allow_failure", "tags", "runtime", "get_run_logger", "pause_flow_run"}
LIBRARY_NAMES |= {"Field", "Literal", "Annotated", "Any", "Callable", "State", "Completed", "PrefectFuture", "RunInput"}
LIBRARY_NAMES |= {"timedelta", "expanduser", "subprocess", "LocalFileSystem", "rate_limit", "concurrency"}
LIBRARY_NAMES |= {"ThreadPoolTaskRunner", "ProcessPoolTaskRunner", "DaskTaskRunner", "RayTaskRunner"}
LIBRARY_NAMES |= {"run_shell", "run_deployment", *_POLICIES.values()}
# Module-level names the flow body itself uses: a parameter of the same name would hide them.
BODY_NAMES = {"unmapped", "allow_failure", "tags", "get_run_logger", "pause_flow_run", *HELPERS}
BODY_NAMES |= {"len", "list", "str", "sum", "abs", "any", "f", "results"}


# -- the module -------------------------------------------------------------------------------


@dataclass
class Emitter:
    ir: FlowIR
    origin: Callable[..., Origin | None] | None = None
    imports: dict[tuple[str, str], str] = field(default_factory=dict)  # (module, name) -> local name
    taken: set[str] = field(default_factory=set)
    helpers: dict[str, None] = field(default_factory=dict)
    defs: list[str] = field(default_factory=list)  # top-level blocks before the flow
    var: dict[str, str] = field(default_factory=dict)  # task name -> variable in the flow body
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.param_names = {p.name for p in self.ir.params}
        self.taken = self.param_names | set(dir(builtins)) | set(keyword.kwlist) | set(HELPERS) | LIBRARY_NAMES
        for node in (*self.ir.tasks, *self.ir.hook_tasks):  # `import pkg.mod` binds `pkg`
            for path in [node.target if node.action == "python" else "", *(h.python or "" for h in node.hooks)]:
                self.taken.add(path.split(".")[0].split(":")[0])
        self.taken |= {(h.python or "").split(".")[0].split(":")[0] for h in self.ir.hooks}
        self.flow_fn = self.fresh(module_name(self.ir.name))
        self.maybe_skipped: set[str] = set()
        for node in self.ir.tasks:
            self.var[node.name] = self.fresh(node.name)
            if node.when is not None or node.data_deps & self.maybe_skipped:
                self.maybe_skipped.add(node.name)

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
            for module, imported in _HELPER_IMPORTS.get(name, []):
                self.use(module, imported)
            self.helpers[name] = None
        return name

    def text(self, source: str, code: str) -> str:
        """Code of an expression written into a string: str-like parameters as they are."""
        p = next((p.spec for p in self.ir.params if source.replace(" ", "") in (f"params.{p.name}",)), None)
        textual = p is not None and p.type in ("string", "integer", "number") and (p.default is not None or p.required)
        if textual and not any(isinstance(v, bool) or v is None for v in p.enum or []):
            return code
        return f"{self.helper('as_text')}({code})"

    def refuse(self, node: TaskIR | None, message: str, where: tuple = ()) -> None:
        source = node.source if node is not None else self.ir.source
        origin = self.origin(source[0], source[1], (*source[2], *where)) if self.origin and source else None
        self.diagnostics.append(
            Diagnostic("emit.unsupported", message, origin, hint="keep it in the YAML flow (pipeform run / deploy)")
        )

    # -- callables and options --

    def callable(self, path: str) -> str:
        """`pkg.mod:fn` -> `pkg.mod.fn` with `import pkg.mod` (no name of the user's can clash)."""
        module, _, attr = path.partition(":")
        return f"{self.use(module, '')}.{attr}"

    def action(self, node: TaskIR, refs: Refs | None, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(callable code, keyword -> spec value) of a task, as walk._action_args builds them."""
        if node.action == "python":
            return self.callable(node.target), args
        if node.action == "shell":
            fn = self.use("pipeform.compiler.runtime", "run_shell")
            s = node.target
            if isinstance(s, str):
                return fn, {"command": s, **({"inputs": args} if args else {})}
            out = {"command": s.command, "env": s.env or None, "cwd": s.cwd, "capture": s.capture}
            out |= {"stream": s.stream_output, "inputs": args or None}
            return fn, {k: v for k, v in out.items() if v is not None}
        d = node.target
        fn = self.use("pipeform.compiler.walk", "run_deployment")
        return fn, {"name": d.name, "wait": d.wait, "timeout": d.timeout_seconds}
        # job_variables and parameters follow in `task_call`

    def options(self, node: TaskIR) -> dict[str, Any]:
        o = node.options
        kw: dict[str, Any] = {"name": string(node.name), "description": node.description and string(node.description)}
        if o.retries:
            kw["retries"] = str(o.retries)
        delays = o.retry_delays
        if delays:
            kw["retry_delay_seconds"] = repr(delays[0]) if len(set(delays)) == 1 else literal(list(delays))
        if o.retry_jitter_factor is not None:
            kw["retry_jitter_factor"] = repr(o.retry_jitter_factor)
        if o.retry_on:
            kw["retry_condition_fn"] = call(self.helper("retry_on"), *(string(n) for n in o.retry_on))
        if o.cache is not None:
            policy = " + ".join(self.use("prefect.cache_policies", _POLICIES[p]) for p in o.cache.policies)
            policy += "".join(f" - {string(k)}" for k in o.cache.exclude_inputs)
            if o.cache.key_storage:
                policy = f"({policy}).configure(key_storage={string(o.cache.key_storage)})"
            kw["cache_policy"] = policy
            if o.cache.refresh:
                kw["refresh_cache"] = "True"
            if o.cache.expiration_seconds:
                kw["cache_expiration"] = f"{self.use('datetime', 'timedelta')}(seconds={o.cache.expiration_seconds!r})"
        for key in ("timeout_seconds", "persist_result", "log_prints"):
            if getattr(o, key) is not None:
                kw[key] = repr(getattr(o, key))
        for key in ("result_serializer", "version"):
            if getattr(o, key) is not None:
                kw[key] = string(getattr(o, key))
        if o.result_storage:
            kw["result_storage"] = self.storage(o.result_storage)
        if o.tags:
            kw["tags"] = literal(list(o.tags))
        if o.run_name:
            kw["task_run_name"] = self.run_name(node, o.run_name)
        for event in ("on_failure", "on_completion"):
            hooks = [self.hook(h, node) for h in node.hooks if h.event == event]
            if hooks:
                kw[event] = Group("[", [[h] for h in hooks], "]")
        return {k: v for k, v in kw.items() if v is not None}

    def storage(self, path: str) -> str:
        if not path.startswith(("/", ".", "~")):
            return string(path)
        fs = self.use("prefect.filesystems", "LocalFileSystem")
        if path.startswith("~"):
            return f"{fs}(basepath={self.use('os.path', 'expanduser')}({string(path)}))"
        return f"{fs}(basepath={string(path)})"

    def run_name(self, node: TaskIR | None, template: str) -> str:
        """A run-name template: a format string when it only names str-like parameters, else a function."""
        parts = ex.split(template, ex.RUN_TIME)
        names = [p.source for p in parts if isinstance(p, ex.Expr)]
        simple = [re.fullmatch(r"params\.(\w+)", n) for n in names]
        if node is None and all(simple) and all(self.text(n, "x") == "x" for n in names):
            it = iter(m.group(1) for m in simple if m)
            return interpolate([(False, p) if isinstance(p, str) else (True, next(it)) for p in parts], "")
        fn = self.fresh(f"{node.name if node else self.flow_fn}_run_name")
        rt = self.use("prefect", "runtime")
        mode = "task_name" if node else "flow_name"
        code = value(template, Refs(self, mode))
        local = "inputs" if node else "params"
        where = "task_run" if node else "flow_run"
        ret = indented(layout(["return ", code], 4))
        self.defs.append(f"def {fn}() -> str:\n    {local} = {rt}.{where}.parameters\n{ret}")
        return fn

    def hook(self, hook: HookIR, node: TaskIR | None) -> str:
        if hook.python:
            return self.callable(hook.python)
        owner = node.name if node else self.flow_fn
        fn = self.fresh(f"{owner}_{hook.event}")
        if hook.shell:
            run = self.use("subprocess", "") + ".run"
            body = indented(layout([call(run, literal(["/bin/sh", "-c", hook.shell]), check="False")], 4))
            self.defs.append(f'def {fn}(obj, run, state) -> None:\n    """{hook.event}: a shell command."""\n{body}')
            return fn
        target = self.ir.task(hook.task)
        if target.action != "python" or target.options.limits or target.options.rate_limits:
            raise Unsupported(f"hook task {target.name!r}: only a python task without limits can run as a hook")
        refs = Refs(self, "hook")
        kwargs = {k: value(v, refs) for k, v in target.inputs}
        rt = self.use("prefect", "runtime")
        self.defs.append(
            f'def {fn}(obj, run, state) -> None:\n    """{hook.event}: run task {target.name!r} with the flow\'s parameters."""\n'
            f'    params = getattr(run, "parameters", None) or {rt}.flow_run.parameters or {{}}\n'
            + indented(layout([call(self.task_object(target), **kwargs)], 4))
        )
        return fn

    # -- tasks --

    def task_object(self, node: TaskIR) -> str:
        """Define the module-level task of a node (once); its name."""
        if node.name in self.objects:
            return self.objects[node.name]
        name = self.objects[node.name] = self.fresh(f"{node.name}_task")
        fn, args = self.action(node, None, dict(node.inputs))
        if node.action == "deployment":
            args |= {"job_variables": node.target.job_variables, "parameters": dict(node.inputs)}
        wrap = node.options.limits or node.options.rate_limits or any(_partial(v) for v in args.values())
        if node.options.cache and node.options.cache.exclude_inputs and wrap:
            raise Unsupported("cache.exclude_inputs names the callable's inputs, which a wrapped task does not take")
        if node.options.run_name and wrap and "$[" in node.options.run_name:
            raise Unsupported("a run_name reading inputs needs the callable's own inputs; this task is wrapped")
        opts = self.options(node)
        if not wrap:
            self.defs.append(layout([f"{name} = ", call(self.use("prefect", "task"), fn, **opts)], 0))
            self.wrappers[node.name] = None
            return name
        refs = Refs(self, "wrapper")
        mapped = {}
        for k, _v in node.mapped:
            local = k if k not in self.var.values() and k not in self.param_names else f"{k}_item"
            mapped[k] = local
        kwargs = {k: value(v, refs) for k, v in args.items()}
        kwargs |= dict(mapped)
        body = call(fn, **{k: v for k, v in kwargs.items() if k.isidentifier() and not keyword.iskeyword(k)})
        params = [*refs.used, *mapped.values()]
        lines = [layout(["@", call(self.use("prefect", "task"), **opts)], 0), f"def {name}({', '.join(params)}):"]
        limits = node.options
        extra = {"occupy": str(limits.occupy)} if limits.occupy != 1 else {}
        if limits.limit_timeout_seconds is not None:
            extra["timeout_seconds"] = repr(limits.limit_timeout_seconds)
        indent = 4
        if limits.rate_limits:
            rl = self.use("prefect.concurrency.sync", "rate_limit")
            lines.append(indented(layout([call(rl, literal(list(limits.rate_limits)), **extra)], 4)))
        if limits.limits:
            cc = self.use("prefect.concurrency.sync", "concurrency")
            lines.append(indented(layout(["with ", call(cc, literal(list(limits.limits)), **extra)], 4, ":") + ":"))
            indent = 8
        lines.append(indented(layout(["return ", body], indent), indent))
        self.defs.append("\n".join(lines))
        self.wrappers[node.name] = list(refs.used)
        return name

    # -- the flow body --

    def body_lines(self) -> list[str]:
        out: list[str] = []
        refs = Refs(self, "body")
        done: set[str] = set()
        pending = list(self.ir.tasks)
        while pending:  # walk.run_dag's order
            ready = [n for n in pending if n.deps <= done]
            node = next((n for n in ready if not _blocks(n, self.ir)), ready[0])
            pending.remove(node)
            done.add(node.name)
            try:
                out += self.node_lines(node, refs, self.base)
            except Unsupported as exc:
                self.refuse(node, f"task {node.name!r}: {exc}")
        futures = [n for n in self.ir.tasks if not n.runs_in_flow and not n.options.continue_on_failure]
        if futures:
            items = [[string(n.name), ": ", self.var[n.name]] for n in futures]
            out.append(layout([call(self.helper("raise_failures"), Group("{", items, "}"))], self.base))
        try:
            out += self.return_lines(refs)
        except Unsupported as exc:
            self.refuse(None, f"returns: {exc}", ("spec", "returns"))
        return out

    def node_lines(self, node: TaskIR, refs: Refs, indent: int) -> list[str]:
        var = self.var[node.name]
        branch = bool(node.data_deps & self.maybe_skipped or node.when is not None)
        run = self.start(node, refs, indent + 4 * branch)
        if not self.needed(node):  # nothing reads the variable: a bare call (ruff F841)
            calls = [line for line in run if not line.startswith((f"{var} = {var}_", f"{var} = {{"))]
            run = [re.sub(rf"^{var}(_state|_input)? = ", "", line) for line in calls]
        skip_dep = sorted(node.data_deps & self.maybe_skipped)
        if not skip_dep and node.when is None:
            return run
        skip = self.helper("skip")
        branches: list[tuple[str, list[str]]] = []
        if skip_dep:
            cond = " or ".join(f"{self.var[d]} is {self.helper('SKIPPED')}" for d in skip_dep)
            why = "a task whose result it reads was skipped"
            branches.append((cond, [f"{var} = {skip}({string(node.name)}, {string(why)})"]))
            if not self.needed(node):
                branches[-1][1][0] = branches[-1][1][0].removeprefix(f"{var} = ")
        if node.when is not None:
            cond = flat(value(node.when, refs))
            why = f"condition {node.when!r} is false"
            branches.append((cond, run))
            branches.append(("", [f"{var} = {skip}({string(node.name)}, {string(why)})"]))
            if not self.needed(node):
                branches[-1][1][0] = branches[-1][1][0].removeprefix(f"{var} = ")
        else:
            branches.append(("", run))
        out = []
        for i, (cond, lines) in enumerate(branches):
            out.append(("if " if i == 0 else "elif ") + cond + ":" if cond else "else:")
            out += [indented(line) for line in lines]
        return out

    def needed(self, node: TaskIR) -> bool:
        """Does the flow body read the node's variable after assigning it?"""
        if not node.runs_in_flow and not node.options.continue_on_failure:
            return True  # raise_failures reads every future
        readers = [n for n in self.ir.tasks if node.name in n.data_deps]
        readers += [n for n in self.ir.tasks if node.name in n.order_deps and not node.runs_in_flow]
        if self.ir.returns is None:
            return bool(readers) or not any(node.name in n.deps for n in self.ir.tasks)
        return bool(readers) or node.name in _reads(self.ir.returns)

    def start(self, node: TaskIR, refs: Refs, indent: int) -> list[str]:
        var = self.var[node.name]
        if node.action == "subflow":
            fn = self.use(module_name(node.target), module_name(node.target))
            kwargs = {k: value(v, refs) for k, v in node.inputs}
            if not node.options.continue_on_failure:
                return [layout([f"{var} = ", call(fn, **kwargs)], indent)]
            return [
                layout([f"{var}_state = ", call(fn, **kwargs, return_state="True")], indent),
                f"{var} = {var}_state.result(raise_on_failure=False) if {var}_state.is_completed() else None",
            ]
        if node.action == "approval":
            return self.approval(node, refs, indent)
        obj = self.task_object(node)
        used = self.wrappers[node.name]
        if used is None:  # plain task: the callable's own arguments
            _, args = self.action(node, refs, dict(node.inputs))
            if node.action == "deployment":
                d = node.target
                args |= {"job_variables": d.job_variables, "parameters": dict(node.inputs)}
            kwargs = {k: self.argument(v, refs) for k, v in args.items()}
        else:  # wrapper: the upstream results and parameters it computes with
            kwargs = {u: u for u in used}
        order = sorted(node.order_deps)
        wait = []
        for d in order:
            f = self.var[d]
            if self.ir.task(d).runs_in_flow:
                continue
            if self.ir.task(d).mapped:  # one entry per future: process pools cannot wait on a list
                if self.ir.task(d).options.continue_on_failure:
                    wait.append(f"*({self.use('prefect', 'allow_failure')}(x) for x in {f})")
                else:
                    wait.append(f"*{f}")
                continue
            wait.append(
                f"{self.use('prefect', 'allow_failure')}({f})" if self.ir.task(d).options.continue_on_failure else f
            )
        if node.mapped:
            if kwargs:
                um = self.use("prefect", "unmapped")
                kwargs = {k: [f"{um}(", v, ")"] for k, v in kwargs.items()}
            for k, v in node.mapped:
                whole = _whole_result(v) if isinstance(v, str) else None
                local = k if used is None else self.mapped_local(k)
                kwargs[local] = self.var[whole] if whole and self.ir.task(whole).mapped else value(v, refs)
        if wait:
            skippable = [d for d in order if d in self.maybe_skipped]
            items = Group("[", [[w] for w in wait], "]")
            if skippable:
                fs = ", ".join(self.var[d] for d in order if not self.ir.task(d).runs_in_flow)
                items = f"[f for f in ({fs},) if f is not {self.helper('SKIPPED')}]"
            kwargs["wait_for"] = items
        method = "map" if node.mapped else "submit"
        named = {k: v for k, v in kwargs.items() if k.isidentifier() and not keyword.iskeyword(k)}
        odd = {k: v for k, v in kwargs.items() if k not in named}
        args = [["**", Group("{", [[string(k), ": ", v] for k, v in odd.items()], "}")]] if odd else []
        group = call(f"{obj}.{method}", **named)
        group.items += args
        return [layout([f"{var} = ", group], indent)]

    def mapped_local(self, k: str) -> str:
        return k if k not in self.var.values() and k not in self.param_names else f"{k}_item"

    def argument(self, v: Any, refs: Refs) -> Any:
        """walk._Values.argument: a whole upstream result is its future; else the value now."""
        whole = _whole_result(v) if isinstance(v, str) else None
        if whole:
            return self.var[whole]
        return value(v, refs)

    def approval(self, node: TaskIR, refs: Refs, indent: int) -> list[str]:
        a, var = node.target, self.var[node.name]
        kwargs = [[string(k), ": ", value(v, refs)] for k, v in node.inputs]
        out = []
        if a.message:
            log = self.use("prefect", "get_run_logger")
            out.append(f'{log}().info("waiting for approval: %s", {string(a.message)})')
        pause = self.use("prefect.flow_runs", "pause_flow_run")
        if not a.inputs:
            out.append(f"{pause}(timeout={int(a.timeout_seconds)})")
            out.append(layout([f"{var} = ", Group("{", [[string("approved"), ": True"], *kwargs], "}")], indent))
            return out
        cls = self.fresh("".join(part.title() for part in node.name.split("_")) + "Input")
        fields = []
        types = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
        for k, f in a.inputs.items():
            extra = {"default": literal(f.default)} if f.default is not None else {}
            field_ = call(self.use("pydantic", "Field"), **extra, description=literal(f.description))
            fields.append(indented(layout([f"{k}: {types[f.type]} = ", field_], 4)))
        run_input = self.use("prefect.input", "RunInput")
        self.defs.append(f"class {cls}({run_input}):\n" + "\n".join(fields))
        out.append(f"{var}_input = {pause}(wait_for_input={cls}, timeout={int(a.timeout_seconds)})")
        answer = f"{var}_input.model_dump()"
        if not kwargs:
            return [*out, f"{var} = {answer}"]
        out.append(layout([f"{var} = ", Group("{", [*kwargs, [f"**{answer}"]], "}")], indent))
        return out

    def return_lines(self, refs: Refs) -> list[str]:
        if self.ir.returns is not None:
            reads = _reads(self.ir.returns)
            if reads & self.maybe_skipped:
                raise Unsupported(f"reads {sorted(reads & self.maybe_skipped)}, which `when` may skip")
            return [layout(["return ", value(self.ir.returns, refs)], self.base)]
        used = {d for n in self.ir.tasks for d in n.deps}
        leaves = sorted((n for n in self.ir.tasks if n.name not in used), key=lambda n: n.name)

        def leaf(n: TaskIR) -> str:
            v = self.var[n.name]
            if n.runs_in_flow:
                return v
            if not n.options.continue_on_failure:
                return f"{v}.result()"
            failed = f"any(f.state.is_failed() for f in {v})" if n.mapped else f"{v}.state.is_failed()"
            return f"None if {failed} else {v}.result()"

        always = [n for n in leaves if n.name not in self.maybe_skipped]
        maybe = [n for n in leaves if n.name in self.maybe_skipped]
        result = Group("{", [[string(n.name), ": ", leaf(n)] for n in always], "}")
        if not maybe:
            return [layout(["return ", result], self.base)]
        out = [layout(["results = ", result], self.base)]
        for n in maybe:
            out += [
                f"if {self.var[n.name]} is not {self.helper('SKIPPED')}:",
                f"    results[{string(n.name)}] = {leaf(n)}",
            ]
        return [*out, "return results"]

    # -- flow --

    def signature(self) -> list[list[Any]]:
        items: list[list[Any]] = [["*"]]
        for p in self.ir.params:
            s = p.spec
            extra = {k: getattr(s, k) for k in ("title", "format") if getattr(s, k) is not None}
            if s.items and not _typed_items(s):
                extra["items"] = s.items
            kw = {"description": string(s.description)} if s.description else {}
            if extra:
                kw["json_schema_extra"] = literal(extra)
            item: list[Any] = [f"{p.name}: {self.annotation(s)}"]
            if p.required and s.default is None:
                if kw:
                    item += [" = ", call(self.use("pydantic", "Field"), **kw)]
            elif kw:
                item += [" = ", call(self.use("pydantic", "Field"), literal(s.default), **kw)]
            elif isinstance(s.default, list | dict):  # ruff B006: no mutable literal defaults
                item += [" = ", call(self.use("pydantic", "Field"), literal(s.default))]
            else:
                item += [" = ", literal(s.default)]
            items.append(item)
        return items

    def annotation(self, p: Any) -> str:
        """params._annotation, written out."""
        if p.enum:
            base = f"{self.use('typing', 'Literal')}[{', '.join(flat(literal(v)) for v in p.enum)}]"
        elif isinstance(p.type, list):
            base = " | ".join(_PY_TYPES[t] for t in p.type)
        elif _typed_items(p):
            base = f"list[{_PY_TYPES[p.items['type']]}]"
        else:
            base = _PY_TYPES[p.type]
        limits = {k: v for k, v in (("ge", p.minimum), ("le", p.maximum)) if v is not None}
        limits |= {"pattern": string(p.pattern)} if p.pattern is not None else {}
        if limits:
            field_ = flat(call(self.use("pydantic", "Field"), **{k: str(v) for k, v in limits.items()}))
            base = f"{self.use('typing', 'Annotated')}[{base}, {field_}]"
        if not p.required and p.default is None and "None" not in base.split(" | "):
            base += " | None"
        return base

    def flow_kwargs(self) -> dict[str, Any]:
        o = self.ir.options
        kw: dict[str, Any] = {"name": string(self.ir.name)}
        for key in ("retries", "retry_delay_seconds", "timeout_seconds", "persist_result", "log_prints"):
            if getattr(o, key) is not None:
                kw[key] = repr(getattr(o, key))
        if o.validate_parameters is not None:
            kw["validate_parameters"] = repr(o.validate_parameters)
        for key in ("result_serializer", "version"):
            if getattr(o, key) is not None:
                kw[key] = string(getattr(o, key))
        if o.result_storage:
            kw["result_storage"] = self.storage(o.result_storage)
        if o.run_name:
            kw["flow_run_name"] = self.run_name(None, o.run_name)
        if o.task_runner:
            kw["task_runner"] = self.task_runner(dict(o.task_runner))
        for event in ("on_failure", "on_completion"):
            hooks = []
            for h in self.ir.hooks:
                if h.event == event:
                    try:
                        hooks.append(self.hook(h, None))
                    except Unsupported as exc:
                        self.refuse(None, str(exc), ("spec", "hooks"))
            if hooks:
                kw[event] = Group("[", [[h] for h in hooks], "]")
        return kw

    def task_runner(self, spec: dict[str, Any]) -> Any:
        kind = spec["type"]
        if kind in ("thread_pool", "process_pool"):
            cls = self.use(
                "prefect.task_runners", "ThreadPoolTaskRunner" if kind == "thread_pool" else "ProcessPoolTaskRunner"
            )
            return call(cls, max_workers=repr(spec.get("max_workers")))
        if kind == "dask":
            kw = {k: literal(spec[k]) for k in ("address", "cluster_class") if spec.get(k)}
            if spec.get("cluster_kwargs"):
                kw["cluster_kwargs"] = literal(dict(spec["cluster_kwargs"]))
            return call(self.use("prefect_dask", "DaskTaskRunner"), **kw)
        return call(self.use("prefect_ray", "RayTaskRunner"), address=literal(spec.get("address")))

    def module(self, source_file: str | None) -> str:
        self.wrappers: dict[str, list[str] | None] = {}
        self.objects: dict[str, str] = {}
        o = self.ir.options
        for p in self.ir.params:
            if p.name in BODY_NAMES:
                self.refuse(None, f"parameter {p.name!r} would hide {p.name!r} in the emitted flow body; rename it")
        if o.validate_parameters is False and any(
            p.spec.description or p.spec.title or p.spec.format for p in self.ir.params
        ):
            self.refuse(
                None, "validate_parameters: false with described parameters: the defaults would arrive as Field objects"
            )
        try:
            flow_kw = self.flow_kwargs()
        except Unsupported as exc:
            flow_kw = {}
            self.refuse(None, str(exc))
        self.base = 8 if o.tags else 4
        body = self.body_lines()
        decorator = layout(["@", call(self.use("prefect", "flow"), **flow_kw)], 0)
        params = self.signature()
        signature = layout([f"def {self.flow_fn}", Group("(", params if len(params) > 1 else [], ")")], 0, ":") + ":"
        doc = [docstring(self.ir.description, "    ")] if self.ir.description else []
        if o.tags:
            tags = self.use("prefect", "tags")
            lines = [layout(["with ", call(tags, *(string(t) for t in o.tags))], 4, ":") + ":"]
            lines += [indented(line) for line in body]
        else:
            lines = body
        flow_src = "\n".join([decorator, signature, *doc, *(indented(line) for line in lines)])
        where = f" from {source_file}" if source_file else ""
        head = f"Generated by pipeform{where} (Flow {self.ir.name!r}); do not edit by hand."
        if o.tags:
            head += f"\n\nThe flow run itself carries the tags {list(o.tags)} only when called inside\n`prefect.tags(...)` or from a deployment; its task runs always do."
        text = head + (f"\n\n{self.ir.description}" if self.ir.description else "")
        blocks = [HELPERS[h] for h in ("SKIPPED", "skip", "raise_failures", "as_text", "retry_on") if h in self.helpers]
        rest = "\n\n\n".join([*blocks, *self.defs, flow_src])
        gap = "\n\n\n" if rest.startswith(("def ", "class ", "@")) else "\n\n"  # ruff isort: lines-after-imports
        return docstring(text) + "\n\n" + self.import_block() + gap + rest + "\n"

    def import_block(self) -> str:
        """isort order as ruff applies it with known-first-party = pipeform."""
        sections: dict[int, dict[str, list[tuple[str, str]]]] = {0: {}, 1: {}, 2: {}}
        for (module, name), local in self.imports.items():
            top = module.split(".")[0]
            section = 0 if top in sys.stdlib_module_names else 2 if top == "pipeform" else 1
            sections[section].setdefault(module, []).append((name, local))

        def member_key(pair: tuple[str, str]) -> tuple[int, str]:
            n = pair[0]
            kind = 0 if n.isupper() and len(n) > 1 else 1 if n[:1].isupper() else 2
            return (kind, n.lower())

        out = []
        for section in sections.values():
            lines = [f"import {m}" for m in sorted(section, key=str.lower) if ("", m) in section[m]]
            for module in sorted(section, key=str.lower):
                members = sorted((p for p in section[module] if p[0]), key=member_key)
                plain = [n for n, local in members if n == local]
                statements = [(member_key((plain[0], "")), ", ".join(plain))] if plain else []
                statements += [(member_key(p), f"{p[0]} as {p[1]}") for p in members if p[0] != p[1]]
                for _, names in sorted(statements):
                    line = f"from {module} import {names}"
                    if len(line) > WIDTH:
                        line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names.split(", ")) + ")"
                    lines.append(line)
            if lines:
                out.append("\n".join(lines))
        return "\n\n".join(out)


def _partial(v: Any) -> bool:
    """An argument computed from upstream results (not exactly one whole result)."""
    if isinstance(v, str) and _whole_result(v):
        return False
    return bool(_reads(v))


def _shown(path: str) -> str:
    """A path as the docstring names it: relative to the working directory when inside it."""
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def emit_python(ir: FlowIR, origin: Callable[..., Origin | None] | None = None) -> str:
    """The Python module of one flow. `origin` is Project.origin (for located messages and
    the source file named in the module docstring). Raises CompileError (`emit.unsupported`)."""
    emitter = Emitter(ir, origin)
    source = origin(*ir.source) if origin and ir.source else None
    text = emitter.module(_shown(source.file) if source else None)
    if emitter.diagnostics:
        raise CompileError(emitter.diagnostics)
    return text
