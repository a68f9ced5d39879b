"""The compiler's layout holds: emitting Python and planning never load Prefect, the
emitter takes the walk from the execution plan (no private names of other modules), and
task actions are typed (no comparisons on action strings)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPILER = ROOT / "compiler"


EVERY_ACTION = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: child}
spec:
  parameters: {n: {type: integer, default: 1}}
  tasks: [{name: one, python: "pipeform.compiler.builtins:identity", inputs: {value: "$[ params.n ]"}}]
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: parent}
spec:
  task_runner: {type: dask, address: "tcp://127.0.0.1:8786"}
  result_storage: ~/results
  parameters:
    xs: {type: array, items: {type: integer}, default: [1, 2]}
    mode: {type: string, enum: [full, quick], default: full}
  tasks:
    - {name: each, python: "pipeform.compiler.builtins:identity", map: {value: "$[ params.xs ]"}}
    - name: sh
      shell: {command: "echo $[ tasks.each.result | length ]", env: {A: "$[ params.mode ]"}, capture: lines}
      cache: {policy: [inputs, task_source], expiration_seconds: 60}
      retries: 2
      retry_delay_seconds: {backoff: exponential, base_seconds: 1}
    - {name: sub, subflow: {flow: child}, inputs: {n: "$[ tasks.sh.result | length ]"}}
    - {name: other, deployment: {name: "child/prod", wait: false}, inputs: {n: 2}, when: "$[ params.mode == 'full' ]"}
    - {name: ok, approval: {message: go?, inputs: {note: {type: string, default: fine}}}, depends_on: [other]}
"""


def test_plan_and_emit_load_no_prefect_in_a_fresh_interpreter(tmp_path):
    """Planning and emitting every kind of action (and a runner, storage, cache) imports no Prefect module."""
    (tmp_path / "flows.yaml").write_text(EVERY_ACTION)
    code = (
        "import sys\n"
        "import pipeform.compiler.emit, pipeform.compiler.plan\n"
        "from pipeform.compiler import lower\n"
        "from pipeform.compiler.emit import emit_python\n"
        "from pipeform.compiler.plan import execution_plan\n"
        "from pipeform.spec import load_project\n"
        f"project, diagnostics = load_project([{str(tmp_path)!r}])\n"
        "assert project is not None, diagnostics\n"
        "plans = [execution_plan(lower(project, name)) for name in project.flows]\n"
        "texts = [emit_python(lower(project, name), project.origin) for name in project.flows]\n"
        "assert all('@flow(' in t for t in texts) and 'DaskTaskRunner(' in texts[1] and 'pause_flow_run(' in texts[1]\n"
        "loaded = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "print(len(plans), len(texts), loaded)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2 2 []", run.stdout


def _modules(folder: Path) -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text())) for p in sorted(folder.rglob("*.py"))]


def test_emit_imports_no_private_names():
    private = [
        f"{p.relative_to(ROOT)}:{node.lineno} {alias.name}"
        for p, tree in _modules(COMPILER / "emit")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []


def test_no_comparison_on_a_task_action_string():
    """Actions are typed (ir.PythonCall, ...): dispatch is `match`/isinstance, never `action == "shell"`."""
    found = []
    for p, tree in _modules(COMPILER):
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Attribute) and s.attr == "action" for s in sides):
                    found.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_compiler_modules_and_functions_are_short():
    long_modules = [str(p.relative_to(ROOT)) for p, _ in _modules(COMPILER) if len(p.read_text().splitlines()) > 400]
    long_functions = [
        f"{p.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for p, tree in _modules(COMPILER)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long_modules == [] and long_functions == []
