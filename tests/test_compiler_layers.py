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


OPTIONS = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: opts, description: Every option.}
spec:
  retries: 1
  retry_delay_seconds: 2
  timeout_seconds: 60
  log_prints: true
  version: "7"
  run_name: "opts-$[ params.n ]"
  validate_parameters: false
  task_runner: {type: thread_pool, max_workers: 2}
  result_storage: ~/results
  hooks: {on_failure: [{shell: "echo failed"}]}
  parameters: {n: {type: integer, default: 1}}
  tasks:
    - name: rich
      description: A task with every option.
      python: pipeform.compiler.builtins:identity
      inputs: {value: "$[ params.n ]"}
      retries: 2
      retry_delay_seconds: {backoff: exponential, base_seconds: 1, jitter_factor: 0.5}
      retry_on: [ValueError]
      cache: {policy: [inputs], expiration_seconds: 30, refresh: true}
      timeout_seconds: 10
      persist_result: true
      result_serializer: json
      tags: [a, b]
      run_name: "rich-$[ inputs.value ]"
      hooks: {on_completion: [{shell: "echo done"}]}
    - {name: bare, python: pipeform.compiler.builtins:identity, inputs: {value: 1}}
"""


def test_both_backends_pass_the_same_task_and_flow_keywords(tmp_path):
    """The keyword arguments of task(...) and flow(...) come from one mapping
    (compiler.options): the built objects and the emitted code name the same ones."""
    from pipeform.compiler import lower, options
    from pipeform.compiler.build import Builder
    from pipeform.compiler.emit import options as emitted
    from pipeform.compiler.emit.scope import Emitter
    from pipeform.compiler.plan import execution_plan
    from pipeform.spec import load_project

    (tmp_path / "flows.yaml").write_text(OPTIONS)
    project, diagnostics = load_project([tmp_path])
    assert project is not None, diagnostics
    ir = lower(project, "opts")
    plan = execution_plan(ir)
    builder, emitter = Builder(project), Emitter(plan, project.origin)
    for node in ir.tasks:
        built = builder.keywords(options.task_keywords(node), plan)
        assert set(built) == set(emitted.task_options(emitter, node)), node.name
    rich = builder.keywords(options.task_keywords(ir.task("rich")), plan)
    assert set(rich) >= {"retry_condition_fn", "cache_policy", "refresh_cache", "cache_expiration", "task_run_name"}
    assert (
        rich["retry_delay_seconds"] == [1, 2]
        and rich["retry_jitter_factor"] == 0.5
        and rich["tags"] == ["a", "b"]
        and rich["retries"] == 2
    )
    assert set(builder.keywords(options.task_keywords(ir.task("bare")), plan)) == {"name"}  # Prefect's defaults
    flow_kw = builder.keywords(options.flow_keywords(ir), plan)
    # the emitted module writes the description as the function's docstring (Prefect reads it from there)
    assert set(flow_kw) - {"description"} == set(emitted.flow_options(emitter))
    assert {"task_runner", "result_storage", "flow_run_name", "on_failure", "validate_parameters"} <= set(flow_kw)
