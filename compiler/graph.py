"""The DAG of a flow as Mermaid or Graphviz dot text (pure)."""

from __future__ import annotations

from .ir import Action, Approval, DeploymentRun, FlowIR, PythonCall, ShellCommand, SubflowCall

_SHAPES: dict[type[Action], tuple[str, str]] = {
    PythonCall: ("[", "]"),
    ShellCommand: ("[/", "/]"),
    SubflowCall: ("[[", "]]"),
    DeploymentRun: ("[(", ")]"),
    Approval: ("{{", "}}"),
}


def mermaid(ir: FlowIR) -> str:
    lines = ["flowchart TD"]
    for t in ir.tasks:
        left, right = _SHAPES[type(t.action)]
        label = (
            f"{t.name}<br/><small>{t.action.kind}{' (map)' if t.mapped else ''}{' (when)' if t.when else ''}</small>"
        )
        lines.append(f'    {t.name}{left}"{label}"{right}')
    for t in ir.tasks:
        for d in sorted(t.data_deps):
            lines.append(f"    {d} --> {t.name}")
        for d in sorted(t.order_deps - t.data_deps):
            lines.append(f"    {d} -.-> {t.name}")
    return "\n".join(lines) + "\n"


def dot(ir: FlowIR) -> str:
    lines = [f'digraph "{ir.name}" {{', "  rankdir=TB;", "  node [shape=box, fontname=Helvetica];"]
    for t in ir.tasks:
        lines.append(f'  "{t.name}" [label="{t.name}\\n({t.action.kind})"];')
    for t in ir.tasks:
        for d in sorted(t.data_deps):
            lines.append(f'  "{d}" -> "{t.name}";')
        for d in sorted(t.order_deps - t.data_deps):
            lines.append(f'  "{d}" -> "{t.name}" [style=dashed];')
    lines.append("}")
    return "\n".join(lines) + "\n"
