"""Writes the flow function's body: the execution plan's steps in order (a whole upstream
result as its future, `depends_on` as `wait_for`, `.map()` with `unmapped`, `when` as
`if`/`skip(...)`), every task checked at the end, then the return value."""

from __future__ import annotations

import keyword
import re
from typing import Any

from ..ir import Approval, SubflowCall
from ..plan import Arg, Future, Step
from . import tasks
from .expr import Refs, value
from .scope import Emitter, Unsupported
from .text import Group, call, flat, indented, layout, literal, module_name, string


def body_lines(e: Emitter) -> list[str]:
    out: list[str] = []
    refs = Refs(e, "body")
    for step in e.plan.steps:
        try:
            out += step_lines(e, step, refs, e.base)
        except Unsupported as exc:
            e.refuse(step.node, f"task {step.name!r}: {exc}")
    if e.plan.checked:
        items = [[string(n), ": ", e.var[n]] for n in e.plan.checked]
        out.append(layout([call(e.helper("raise_failures"), Group("{", items, "}"))], e.base))
    try:
        out += return_lines(e, refs)
    except Unsupported as exc:
        e.refuse(None, f"returns: {exc}", ("spec", "returns"))
    return out


def step_lines(e: Emitter, step: Step, refs: Refs, indent: int) -> list[str]:
    node, var = step.node, e.var[step.name]
    run = start(e, step, refs, indent + 4 * step.may_skip)
    needed = e.task_var_needed(node)
    if not needed:  # nothing reads the variable: a bare call (ruff F841)
        calls = [line for line in run if not line.startswith((f"{var} = {var}_", f"{var} = {{"))]
        run = [re.sub(rf"^{var}(_state|_input)? = ", "", line) for line in calls]
    if not step.may_skip:
        return run
    skip = e.helper("skip")
    assign = f"{var} = " if needed else ""
    branches: list[tuple[str, list[str]]] = []
    if step.skip_if:
        cond = " or ".join(f"{e.var[d]} is {e.helper('SKIPPED')}" for d in step.skip_if)
        why = "a task whose result it reads was skipped"
        branches.append((cond, [f"{assign}{skip}({string(step.name)}, {string(why)})"]))
    if step.when is not None:
        why = f"condition {node.when!r} is false"
        branches.append((flat(value(step.when.value, refs)), run))
        branches.append(("", [f"{assign}{skip}({string(step.name)}, {string(why)})"]))
    else:
        branches.append(("", run))
    out = []
    for i, (cond, lines) in enumerate(branches):
        out.append(("if " if i == 0 else "elif ") + cond + ":" if cond else "else:")
        out += [indented(line) for line in lines]
    return out


def start(e: Emitter, step: Step, refs: Refs, indent: int) -> list[str]:
    node, var = step.node, e.var[step.name]
    match node.action:
        case SubflowCall(flow=flow):
            fn = e.use(module_name(flow), module_name(flow))
            kwargs = {k: value(a.value, refs) for k, a in step.args}
            if not node.options.continue_on_failure:
                return [layout([f"{var} = ", call(fn, **kwargs)], indent)]
            return [
                layout([f"{var}_state = ", call(fn, **kwargs, return_state="True")], indent),
                f"{var} = {var}_state.result(raise_on_failure=False) if {var}_state.is_completed() else None",
            ]
        case Approval() as approval:
            return approval_lines(e, step, approval, refs, indent)
    return [layout([f"{var} = ", submit(e, step, refs)], indent)]


def submit(e: Emitter, step: Step, refs: Refs) -> Group:
    """`task.submit(...)` or `task.map(...)` with the step's arguments and wait_for."""
    obj = tasks.task_object(e, step.node)
    used = e.wrappers[step.name]
    if used is None:  # plain task: the callable's own arguments
        kwargs: dict[str, Any] = {k: argument(e, a, refs) for k, a in step.args}
    else:  # wrapper: the upstream results and parameters it computes with
        kwargs = {u: u for u in used}
    if step.mapped:
        if kwargs:
            um = e.use("prefect", "unmapped")
            kwargs = {k: [f"{um}(", v, ")"] for k, v in kwargs.items()}
        for k, m in step.mapped:
            local = k if used is None else tasks.mapped_local(e, k)
            kwargs[local] = e.var[m.task] if isinstance(m, Future) else value(m.value, refs)
    wait = wait_for(e, step)
    if wait is not None:
        kwargs["wait_for"] = wait
    named = {k: v for k, v in kwargs.items() if k.isidentifier() and not keyword.iskeyword(k)}
    odd = {k: v for k, v in kwargs.items() if k not in named}
    group = call(f"{obj}.{'map' if step.mapped else 'submit'}", **named)
    if odd:
        group.items.append(["**", Group("{", [[string(k), ": ", v] for k, v in odd.items()], "}")])
    return group


def wait_for(e: Emitter, step: Step) -> Any:
    """`depends_on` as wait_for; upstreams passed as arguments are waited for already."""
    ordering = [w for w in step.wait_for if w.ordering]
    waits = []
    for w in ordering:
        if w.in_flow:
            continue
        f = e.var[w.task]
        fail = e.use("prefect", "allow_failure") if w.allow_failure else ""
        if w.each:  # one entry per future: process pools cannot wait on a list
            waits.append(f"*({fail}(x) for x in {f})" if fail else f"*{f}")
        else:
            waits.append(f"{fail}({f})" if fail else f)
    if not waits:
        return None
    if any(w.may_skip for w in ordering):
        fs = ", ".join(e.var[w.task] for w in ordering if not w.in_flow)
        return f"[f for f in ({fs},) if f is not {e.helper('SKIPPED')}]"
    return Group("[", [[w] for w in waits], "]")


def argument(e: Emitter, arg: Arg, refs: Refs) -> Any:
    """A future as the upstream's variable; any other argument as its value now."""
    return e.var[arg.task] if isinstance(arg, Future) else value(arg.value, refs)


def approval_lines(e: Emitter, step: Step, a: Approval, refs: Refs, indent: int) -> list[str]:
    var = e.var[step.name]
    kwargs = [[string(k), ": ", value(arg.value, refs)] for k, arg in step.args]
    out = []
    if a.message:
        log = e.use("prefect", "get_run_logger")
        out.append(f'{log}().info("waiting for approval: %s", {string(a.message)})')
    pause = e.use("prefect.flow_runs", "pause_flow_run")
    if not a.inputs:
        out.append(f"{pause}(timeout={int(a.timeout_seconds)})")
        out.append(layout([f"{var} = ", Group("{", [[string("approved"), ": True"], *kwargs], "}")], indent))
        return out
    cls = e.fresh("".join(part.title() for part in step.name.split("_")) + "Input")
    fields = []
    types = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
    for k, f in a.inputs:
        extra = {"default": literal(f.default)} if f.default is not None else {}
        field_ = call(e.use("pydantic", "Field"), **extra, description=literal(f.description))
        fields.append(indented(layout([f"{k}: {types[f.type]} = ", field_], 4)))
    e.defs.append(f"class {cls}({e.use('prefect.input', 'RunInput')}):\n" + "\n".join(fields))
    out.append(f"{var}_input = {pause}(wait_for_input={cls}, timeout={int(a.timeout_seconds)})")
    answer = f"{var}_input.model_dump()"
    if not kwargs:
        return [*out, f"{var} = {answer}"]
    out.append(layout([f"{var} = ", Group("{", [*kwargs, [f"**{answer}"]], "}")], indent))
    return out


def return_lines(e: Emitter, refs: Refs) -> list[str]:
    returns = e.plan.returns
    if returns is not None:
        if set(returns.reads) & e.maybe_skipped:
            raise Unsupported(f"reads {sorted(set(returns.reads) & e.maybe_skipped)}, which `when` may skip")
        return [layout(["return ", value(returns.value, refs)], e.base)]
    leaves = [e.ir.task(n) for n in e.plan.leaves]

    def leaf(name: str) -> str:
        n, v = e.ir.task(name), e.var[name]
        if n.runs_in_flow:
            return v
        if not n.options.continue_on_failure:
            return f"{v}.result()"
        failed = f"any(f.state.is_failed() for f in {v})" if n.mapped else f"{v}.state.is_failed()"
        return f"None if {failed} else {v}.result()"

    always = [n.name for n in leaves if n.name not in e.maybe_skipped]
    maybe = [n.name for n in leaves if n.name in e.maybe_skipped]
    result = Group("{", [[string(n), ": ", leaf(n)] for n in always], "}")
    if not maybe:
        return [layout(["return ", result], e.base)]
    out = [layout(["results = ", result], e.base)]
    for n in maybe:
        out += [f"if {e.var[n]} is not {e.helper('SKIPPED')}:", f"    results[{string(n)}] = {leaf(n)}"]
    return [*out, "return results"]
