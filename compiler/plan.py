"""IR -> execution plan: the order tasks start in, which of them block the flow body, and
for each argument whether it is a future, a deferred expression or a value now. Pure: no
Prefect. walk.py runs a plan inside a flow run; emit writes the same plan as Python.

- A task starts as soon as the tasks it needs have started (not finished). An argument
  that is exactly `$[ tasks.X.result ]` is X's future; another expression reading results
  is deferred (the task evaluates it when it runs); anything else is a value now.
- Blocking steps wait in the body: subflows and approvals (they run in the flow itself),
  a `when` reading a result, mapping over a computed value. Among the ready steps they
  are taken last, so everything else is already running.
- A false `when` skips a step; a step reading a skipped step's result is skipped too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .actions import Callee, Keywords, call_arguments, callee
from .context import result_reads, whole_result
from .ir import FlowIR, TaskIR


@dataclass(frozen=True, slots=True)
class Future:
    """Exactly an upstream result: its future (a list of futures when it was mapped)."""

    task: str
    each: bool
    value: Any


@dataclass(frozen=True, slots=True)
class Deferred:
    """An expression reading results: evaluated inside the task run."""

    value: Any
    reads: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Now:
    """Evaluated in the flow body when the step starts (waiting for any results it reads)."""

    value: Any
    reads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Nested:
    """A dict argument classified entry by entry (actions.Keywords)."""

    items: tuple[tuple[str, Arg], ...]
    value: dict[str, Any]


Arg = Future | Deferred | Now | Nested


@dataclass(frozen=True, slots=True)
class Wait:
    """An upstream the step waits for (`wait_for`)."""

    task: str
    each: bool  # mapped upstream: one entry per future
    allow_failure: bool  # the upstream has continue_on_failure
    ordering: bool  # named in depends_on (else only implied by an argument)
    in_flow: bool  # ran in the body: nothing to wait for
    may_skip: bool


@dataclass(frozen=True, slots=True)
class Step:
    node: TaskIR
    callee: Callee | None  # None: runs in the flow body (subflow, approval)
    args: tuple[tuple[str, Arg], ...]
    mapped: tuple[tuple[str, Future | Now], ...]
    wait_for: tuple[Wait, ...]
    when: Now | None
    skip_if: tuple[str, ...]  # upstreams whose results it reads that may be skipped
    may_skip: bool
    blocks: bool

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def defers(self) -> bool:
        """Does the task evaluate an argument itself (runtime.resolving)?"""
        return any(_defers(a) for _, a in self.args)


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    flow: FlowIR
    steps: tuple[Step, ...]  # in the order they start
    hook_steps: tuple[Step, ...]  # tasks that run only as hooks
    returns: Now | None  # None: a dict of the leaves' results
    leaves: tuple[str, ...]  # tasks nothing depends on, sorted
    checked: tuple[str, ...]  # futures that must complete for the flow run to complete
    _by_name: dict[str, Step] | None = field(default=None, init=False, repr=False, compare=False)

    def step(self, name: str) -> Step:
        if self._by_name is None:  # derived once: emit looks up every step's own
            object.__setattr__(self, "_by_name", {s.name: s for s in (*self.hook_steps, *self.steps)})
        return self._by_name[name]  # type: ignore[index]


def _defers(arg: Arg) -> bool:
    return isinstance(arg, Deferred) or (isinstance(arg, Nested) and any(_defers(a) for _, a in arg.items))


def classify(value: Any, ir: FlowIR, now: bool = False) -> Arg:
    """How one argument is handed over."""
    if isinstance(value, Keywords):
        return Nested(tuple((k, classify(v, ir, now)) for k, v in value.pairs), dict(value.pairs))
    reads = tuple(sorted(result_reads(value)))
    if now:
        return Now(value, reads)
    if isinstance(value, str) and (name := whole_result(value)):
        return Future(name, bool(ir.task(name).mapped), value)
    return Deferred(value, reads) if reads else Now(value)


def _mapped(value: Any, ir: FlowIR) -> Future | Now:
    name = whole_result(value) if isinstance(value, str) else None
    if name and ir.task(name).mapped:
        return Future(name, True, value)  # map over a mapped task's futures
    return Now(value, tuple(sorted(result_reads(value))))  # mapping needs the list itself


def _blocks(node: TaskIR, mapped: tuple[tuple[str, Future | Now], ...]) -> bool:
    return (
        node.runs_in_flow
        or bool(node.when and result_reads(node.when))
        or any(isinstance(m, Now) and m.reads for _, m in mapped)
    )


def _step(node: TaskIR, ir: FlowIR, may_skip: set[str]) -> Step:
    mapped = tuple((k, _mapped(v, ir)) for k, v in node.mapped)
    waits = []
    for d in sorted(node.deps):
        up = ir.task(d)
        waits.append(
            Wait(
                d, bool(up.mapped), up.options.continue_on_failure, d in node.order_deps, up.runs_in_flow, d in may_skip
            )
        )
    return Step(
        node=node,
        callee=callee(node.action),
        args=tuple((k, classify(v, ir, now=node.runs_in_flow)) for k, v in call_arguments(node)),
        mapped=mapped,
        wait_for=tuple(waits),
        when=None if node.when is None else Now(node.when, tuple(sorted(result_reads(node.when)))),
        skip_if=tuple(sorted(node.data_deps & may_skip)),
        may_skip=node.when is not None or bool(node.data_deps & may_skip),
        blocks=_blocks(node, mapped),
    )


def execution_plan(ir: FlowIR) -> ExecutionPlan:
    may_skip: set[str] = set()
    by_name: dict[str, Step] = {}
    for node in ir.tasks:  # topological: upstreams first
        step = by_name[node.name] = _step(node, ir, may_skip)
        if step.may_skip:
            may_skip.add(node.name)
    steps: list[Step] = []
    started: set[str] = set()
    pending = [by_name[n.name] for n in ir.tasks]
    while pending:
        ready = [s for s in pending if s.node.deps <= started]
        step = next((s for s in ready if not s.blocks), ready[0])
        pending.remove(step)
        started.add(step.name)
        steps.append(step)
    used = {d for n in ir.tasks for d in n.deps}
    return ExecutionPlan(
        flow=ir,
        steps=tuple(steps),
        hook_steps=tuple(_step(n, ir, set()) for n in ir.hook_tasks),
        returns=None if ir.returns is None else Now(ir.returns, tuple(sorted(result_reads(ir.returns)))),
        leaves=tuple(sorted(n.name for n in ir.tasks if n.name not in used)),
        checked=tuple(n.name for n in ir.tasks if not n.runs_in_flow and not n.options.continue_on_failure),
    )
