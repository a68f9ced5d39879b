"""Every command that takes paths treats a tree of projects as `validate` does: each
project on its own, never one project merged from all of them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROJECT = """\
apiVersion: pipeform/v1
kind: Project
metadata: {{name: {name}}}
spec:
  values: {{greeting: {greeting}}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {{name: {flow}}}
spec:
  tasks:
    - {{name: t, python: "pipeform.compiler.builtins:identity", inputs: {{value: "<< values.greeting >>"}}}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {{name: {only}}}
spec:
  tasks:
    - {{name: t, python: "pipeform.compiler.builtins:identity", inputs: {{value: 1}}}}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {{name: {name}-var}}
spec: {{value: 1}}
"""


def pipeform(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeform", *map(str, args)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, list[str]]:
    """Two projects in one folder; both have a Flow `shared`, each its own value."""
    names = [f"tree{uuid.uuid4().hex[:8]}-{i}" for i in range(2)]
    for i, name in enumerate(names):
        (tmp_path / name).mkdir()
        text = PROJECT.format(name=name, greeting=f"hi-{i}", flow="shared", only=f"only-{i}")
        (tmp_path / name / "project.yaml").write_text(text)
    return tmp_path, names


def test_examples_tree_compiles_to_python_one_folder_per_project(tmp_path):
    out = tmp_path / "out"
    done = pipeform("compile", "--emit", "python", out, ROOT / "examples")
    assert done.returncode == 0, done.stdout + done.stderr
    folders = sorted(p.name for p in out.iterdir())
    assert folders == ["all-kinds-example", "etl-example", "multi-env-example", "quickstart"]
    for module in out.rglob("*.py"):
        compile(module.read_text(), str(module), "exec")  # valid Python
    assert (out / "quickstart" / "hello.py").is_file()


def test_run_and_graph_pick_the_project_that_declares_the_flow(tree):
    path, names = tree
    graph = pipeform("graph", "only-1", path)
    assert graph.returncode == 0, graph.stderr
    assert "flowchart" in graph.stdout or "graph" in graph.stdout
    ambiguous = pipeform("graph", "shared", path)
    assert ambiguous.returncode == 1
    assert "declared by 2 projects" in ambiguous.stderr and names[0] in ambiguous.stderr


@pytest.mark.usefixtures("prefect_api")
def test_plan_goes_through_each_project_and_one_document_outputs_need_one(tree):
    path, names = tree
    plan = pipeform("plan", path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for name in names:
        assert f"== project {name}" in plan.stdout
        assert f"variable.{name}-var" in plan.stdout
    assert "value.undefined" not in plan.stdout + plan.stderr
    as_json = pipeform("plan", path, "--output", "json")
    assert as_json.returncode == 1 and "2 projects found" in as_json.stderr
