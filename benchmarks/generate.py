"""Synthetic spec trees for the benchmarks: N flows of T tasks each, plus a Deployment each."""

from __future__ import annotations

from pathlib import Path

FLOWS_PER_FILE = 10


def flow_doc(i: int, tasks: int, pool: str = "bench-pool") -> str:
    lines = [
        "apiVersion: pipeform/v1",
        "kind: Flow",
        "metadata:",
        f"  name: flow-{i}",
        "spec:",
        "  retries: 1",
        "  parameters:",
        "    n: {type: integer, default: 3, description: How many.}",
        "  tasks:",
        "    - name: t0",
        "      python: pipeform.compiler.builtins:identity",
        "      inputs:",
        "        value: $[ params.n ]",
    ]
    for j in range(1, tasks):
        lines += [
            f"    - name: t{j}",
            "      python: pipeform.compiler.builtins:identity",
            "      retries: 2",
            "      inputs:",
            f"        value: $[ tasks.t{j - 1}.result ]",
        ]
    lines += [
        "---",
        "apiVersion: pipeform/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: dep-{i}",
        "spec:",
        f"  flow: flow-{i}",
        f"  work_pool: {{name: {pool}}}",
        "  parameters: {n: 5}",
        "  schedules:",
        '    - {slug: hourly, cron: "0 * * * *", timezone: UTC}',
    ]
    return "\n".join(lines) + "\n"


def write_tree(root: Path, flows: int, tasks: int, pool: str = "bench-pool") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "project.yaml").write_text(
        f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: bench}}\nspec: {{}}\n---\n"
        f"apiVersion: pipeform/v1\nkind: WorkPool\nmetadata: {{name: {pool}}}\nspec: {{type: process}}\n"
    )
    for start in range(0, flows, FLOWS_PER_FILE):
        docs = [flow_doc(i, tasks, pool) for i in range(start, min(start + FLOWS_PER_FILE, flows))]
        (root / f"flows-{start:05d}.yaml").write_text("---\n".join(docs))
    return root
