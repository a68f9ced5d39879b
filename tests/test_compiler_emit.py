"""`pipeform compile --emit python`: the emitted modules pass ruff, and running them gives
the same result, parameter schema and task runs as the in-memory compiled flow. Both run
for real against the session's Prefect server; task runs are read back from its API."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipeform.spec import load_project

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "compiler_pkg"
sys.path.insert(0, str(FIXTURES))
pytestmark = pytest.mark.usefixtures("prefect_api")

HEAD = "apiVersion: pipeform/v1\nkind: Flow\nmetadata:\n  name: {name}\nspec:\n"


def ruff(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
    )


def emit_project(project, out: Path) -> dict[str, object]:
    """Emit every flow of the project into `out`, check it with ruff, import the modules."""
    from pipeform.compiler import lower
    from pipeform.compiler.emit import emit_python, module_name

    out.mkdir(parents=True, exist_ok=True)
    names = {name: module_name(name) for name in project.flows}
    for name, module in names.items():
        (out / f"{module}.py").write_text(emit_python(lower(project, name), project.origin))
    check = ruff("check", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = ruff("format", "--check", "--diff", str(out))
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    sys.path.insert(0, str(out))
    try:
        for module in names.values():
            sys.modules.pop(module, None)  # an earlier test may have emitted a flow of the same name
        return {name: getattr(importlib.import_module(module), module) for name, module in names.items()}
    finally:
        sys.path.remove(str(out))


def task_runs(flow_run_id) -> list[tuple[str, str]]:
    """(name without Prefect's random suffix, state name) of each task run, sorted."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))

    # Task-run states reach the server through Prefect's event stream, after the flow run has
    # returned: under load the last ones may still read Pending. Read until every state is final
    # and two reads agree.
    deadline = time.monotonic() + 60
    previous = None
    while True:
        runs = asyncio.run(read())
        # "Cached": the second of the two runs may be served from the first one's cache
        current = sorted(
            (re.sub(r"-[0-9a-f]{3}$", "", r.name), r.state.name.replace("Cached", "Completed")) for r in runs
        )
        settled = all(r.state is not None and r.state.is_final() for r in runs)
        if (settled and current == previous) or time.monotonic() > deadline:
            return current
        previous = current
        time.sleep(0.5)


def same_behaviour(project, flow_name: str, tmp_path: Path, *param_sets: dict, out: Path | None = None) -> list:
    """Run the compiled and the emitted flow on each parameter set; both must agree."""
    from pipeform.compiler import compile_flow

    compiled = compile_flow(project, flow_name)
    emitted = emit_project(project, out or tmp_path / f"out-{uuid.uuid4().hex[:8]}")[flow_name]
    assert emitted.name == compiled.name
    assert emitted.parameters.model_dump(mode="json") == compiled.parameters.model_dump(mode="json")
    outcomes = []
    for params in param_sets or ({},):
        states = [flow(**params, return_state=True) for flow in (compiled, emitted)]
        results = [s.result(raise_on_failure=False) for s in states]
        assert states[0].type == states[1].type, (states, params)
        if states[0].is_completed():
            assert results[0] == results[1], params
        runs = [task_runs(s.state_details.flow_run_id) for s in states]
        assert runs[0] == runs[1], params
        assert runs[0], "no task runs recorded"
        outcomes.append((states[1], results[1], runs[1]))
    return outcomes


def project_of(write, text: str):
    project, diagnostics = load_project([write("flows.yaml", text)])
    assert project is not None, diagnostics
    return project


def flow_yaml(name: str, spec: str) -> str:
    return HEAD.format(name=name) + spec


# -- the examples -------------------------------------------------------------------------------


def test_quickstart_example(tmp_path):
    project, _ = load_project([ROOT / "examples" / "quickstart"])
    ((_, result, runs),) = same_behaviour(project, "hello", tmp_path, {"who": "emit"})
    assert result == {"count": len("hello, emit!")}
    assert [name for name, _ in runs] == ["count", "greet"]


def test_etl_example_map_cache_when_and_hook(tmp_path):
    project, _ = load_project([ROOT / "examples" / "etl"])
    (_, fast, runs), (_, _, full_runs) = same_behaviour(
        project, "orders-etl", tmp_path, {"mode": "incremental"}, {"mode": "full", "day": "2026-02-03"}
    )
    assert fast["table"] == "analytics.orders"
    assert ("report", "Skipped") in runs and ("report", "Completed") in full_runs
    assert [n for n, _ in runs].count("extract") == 3


def test_all_kinds_example_subflow_shell_and_limits(tmp_path):
    project, _ = load_project([ROOT / "examples" / "all-kinds"])
    ((_, result, _),) = same_behaviour(project, "every-task-kind", tmp_path, {"items": [1, 2, 5]})
    assert result == {"guarded": {"total": 3}, "hello": "team data-platform"}
    emitted = (tmp_path.glob("out-*/every_task_kind.py")).__next__().read_text()
    assert "from child_sum import child_sum" in emitted
    assert emitted.startswith('"""Generated by pipeform from ') and "do not edit by hand" in emitted.splitlines()[0]


# -- constructs, one flow each ------------------------------------------------------------------


def test_expressions_on_results_and_interpolation(write, tmp_path):
    project = project_of(
        write,
        flow_yaml(
            "exprs",
            """\
  parameters:
    a: {type: integer, default: 2}
    flag: {type: boolean, default: true}
  tasks:
    - name: first
      python: pfx_tasks:add
      inputs: {a: "$[ params.a ]", b: 3}
    - name: second
      python: pfx_tasks:rows
    - name: third
      python: pfx_tasks:add
      inputs:
        a: $[ tasks.first.result ]
        b: $[ tasks.second.result['rows'][2] + (tasks.second.result.rows | length) ]
    - name: label
      python: pipeform.compiler.builtins:identity
      inputs:
        value: "$[ tasks.second.result.name ]-$[ params.flag ]-$[ params.a * 2 if params.flag else 0 ]"
  returns:
    sum: $[ tasks.third.result ]
    name: $[ tasks.second.result.name ]-x
    label: $[ tasks.label.result ]
    parts: ["$[ params.a ]", "$[ tasks.second.result.rows[1:] ]"]
""",
        ),
    )
    (_, result, _), (_, result2, _) = same_behaviour(project, "exprs", tmp_path, {"a": 10}, {"flag": False})
    assert result == {"sum": 19, "name": "orders-x", "label": "orders-true-20", "parts": [10, [2, 3]]}
    assert result2["label"] == "orders-false-0"


def test_map_zipped_unmapped_and_over_a_mapped_task(write, tmp_path):
    project = project_of(
        write,
        flow_yaml(
            "mapping",
            """\
  parameters:
    xs: {type: array, default: [1, 2, 3]}
    ys: {type: array, default: [10, 20, 30]}
  tasks:
    - name: pairs
      python: pfx_tasks:add
      map: {a: "$[ params.xs ]", b: "$[ params.ys ]"}
    - name: doubled
      python: pfx_tasks:double
      map: {x: "$[ tasks.pairs.result ]"}
    - name: summed
      python: pfx_tasks:total
      inputs: {values: "$[ tasks.doubled.result ]"}
    - name: plus_one
      python: pfx_tasks:add
      map: {a: "$[ tasks.summed.result | list if false else [tasks.summed.result, 1] ]"}
      inputs: {b: "$[ params.xs[0] ]"}
""",
        ),
    )
    ((_, result, runs),) = same_behaviour(project, "mapping", tmp_path)
    assert result == {"plus_one": [133, 2]}
    assert [n for n, _ in runs].count("pairs") == 3


def test_when_skip_and_depends_on(write, tmp_path):
    project = project_of(
        write,
        flow_yaml(
            "gates",
            """\
  parameters:
    mode: {type: string, default: fast}
  tasks:
    - name: full_only
      python: pfx_tasks:rows
      when: $[ params.mode == 'full' ]
    - name: reader
      python: pfx_tasks:total
      inputs: {values: "$[ tasks.full_only.result['rows'] ]"}
    - name: second_reader
      python: pfx_tasks:double
      inputs: {x: "$[ tasks.reader.result ]"}
      when: $[ tasks.reader.result > 1 ]
    - name: always
      python: pfx_tasks:add
      inputs: {a: 1}
      depends_on: [full_only]
""",
        ),
    )
    (_, fast, fast_runs), (_, full, _) = same_behaviour(project, "gates", tmp_path, {}, {"mode": "full"})
    assert fast == {"always": 1}
    assert ("second_reader", "Skipped") in fast_runs
    assert full == {"always": 1, "second_reader": 12}


def test_continue_on_failure_and_failing_flows(write, tmp_path):
    project = project_of(
        write,
        flow_yaml(
            "tolerant",
            """\
  tasks:
    - name: breaks
      python: pfx_tasks:boom
      continue_on_failure: true
    - name: after
      python: pfx_tasks:add
      inputs: {a: 7}
      depends_on: [breaks]
""",
        )
        + "---\n"
        + flow_yaml(
            "failing",
            "  tasks:\n    - {name: breaks, python: 'pfx_tasks:boom'}\n    - {name: ok, python: 'pfx_tasks:rows'}\n",
        ),
    )
    ((state, result, runs),) = same_behaviour(project, "tolerant", tmp_path)
    assert state.is_completed() and result == {"after": 7}
    assert ("breaks", "Failed") in runs
    ((state, _, _),) = same_behaviour(project, "failing", tmp_path)
    assert state.is_failed()


def test_subflow_with_continue_on_failure(write, tmp_path):
    project = project_of(
        write,
        flow_yaml("child", "  parameters:\n    x: {type: integer}\n  tasks:\n")
        + "    - {name: dbl, python: 'pfx_tasks:double', inputs: {x: '$[ params.x ]'}}\n---\n"
        + flow_yaml("bad-child", "  tasks:\n    - {name: breaks, python: 'pfx_tasks:boom'}\n")
        + "---\n"
        + flow_yaml(
            "parent",
            """\
  tasks:
    - {name: call, subflow: {flow: child}, inputs: {x: 21}}
    - {name: try_it, subflow: {flow: bad-child}, continue_on_failure: true}
    - {name: after, python: "pfx_tasks:add", inputs: {a: "$[ tasks.call.result.dbl ]"}}
""",
        ),
    )
    ((_, result, _),) = same_behaviour(project, "parent", tmp_path)
    assert result == {"after": 42, "try_it": None}


def test_shell_options_params_and_results(write, tmp_path):
    project = project_of(
        write,
        flow_yaml(
            "shells",
            """\
  parameters:
    who: {type: string, default: yaml}
  tasks:
    - name: talk
      shell:
        command: "echo line-one; echo line-two-$[ params.who ]; echo warn-line 1>&2"
        capture: lines
    - name: reply
      shell:
        command: 'echo "$GREETING $WHO $[ tasks.talk.result[1] ]"'
        env: {GREETING: hi}
      inputs: {WHO: "$[ tasks.talk.result ]"}
    - name: as_json
      shell:
        command: echo '[1, 2]'
        capture: json
""",
        ),
    )
    ((_, result, _),) = same_behaviour(project, "shells", tmp_path, {"who": "ann"})
    assert result["reply"] == 'hi ["line-one", "line-two-ann"] line-two-ann'
    assert result["as_json"] == [1, 2]


def test_options_run_names_tags_retries_and_hooks(write, tmp_path):
    marker = tmp_path / "hook-ran"
    counter = tmp_path / "calls"
    project = project_of(
        write,
        flow_yaml(
            "opts",
            f"""\
  tags: [team-data]
  run_name: "run-$[ params.day ]"
  task_runner: {{type: thread_pool, max_workers: 2}}
  parameters:
    day: {{type: string, default: mon}}
  hooks:
    on_completion:
      - shell: touch {marker}
  tasks:
    - name: t
      python: pfx_tasks:add
      inputs: {{a: 1}}
      tags: [fast]
      run_name: "add-$[ inputs.a ]"
    - name: shaky
      python: pfx_tasks:flaky
      inputs: {{path: "{counter}", failures: 1}}
      retries: 2
      retry_delay_seconds: 0
      retry_on: [ConnectionError]
      timeout_seconds: 30
""",
        ),
    )
    from pipeform.compiler import compile_flow

    emitted = emit_project(project, tmp_path / "out")["opts"]
    state = emitted(day="tue", return_state=True)
    assert state.is_completed(), state
    assert state.result() == {"shaky": "succeeded on attempt 2", "t": 1}
    assert marker.exists()
    import asyncio

    from prefect.client.orchestration import get_client

    async def read(flow_run_id):
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    run = asyncio.run(read(state.state_details.flow_run_id))
    assert run.name == "run-tue"
    runs = task_runs(state.state_details.flow_run_id)
    assert ("add-1", "Completed") in runs
    counter.unlink()
    compiled_state = compile_flow(project, "opts")(day="tue", return_state=True)
    assert task_runs(compiled_state.state_details.flow_run_id) == runs


# -- refusals and the command -------------------------------------------------------------------


@pytest.mark.slow
def test_process_pool_with_an_order_dependency_on_a_mapped_task(write, tmp_path, monkeypatch):
    """Both flows on a real process pool: task arguments and wait_for cross a process
    boundary (a mapped upstream in wait_for is passed as its futures, one by one)."""
    project = project_of(
        write,
        HEAD.format(name="on-procs")
        + """\
  task_runner: {type: process_pool, max_workers: 2}
  parameters:
    xs: {type: array, default: [1, 2, 3]}
  tasks:
    - {name: doubled, python: "pfx_tasks:double", map: {x: "$[ params.xs ]"}}
    - {name: summed, python: "pfx_tasks:total", inputs: {values: "$[ tasks.doubled.result ]"}}
    - {name: after, python: "pfx_tasks:add", inputs: {a: 1}, depends_on: [doubled]}
    - {name: plus, python: "pfx_tasks:add", inputs: {a: "$[ tasks.summed.result + 1 ]"}}
""",
    )
    out = tmp_path / "procs-out"
    out.mkdir()
    monkeypatch.syspath_prepend(str(out))  # the pool's processes import the emitted module too
    ((state, result, runs),) = same_behaviour(project, "on-procs", tmp_path, {"xs": [1, 2, 3]}, out=out)
    assert state.is_completed()
    assert result == {"after": 1, "plus": 13}
    assert [n for n, _ in runs].count("doubled") == 3


def test_unsupported_expression_is_refused_with_a_location(write):
    from pipeform.compiler import CompileError, lower
    from pipeform.compiler.emit import emit_python

    path = write(
        "flow.yaml",
        flow_yaml(
            "odd",
            "  tasks:\n    - name: a\n      python: pfx_tasks:add\n      inputs: {a: \"$[ 'x' | replace('x', 'y') ]\"}\n",
        ),
    )
    project, _ = load_project([path])
    with pytest.raises(CompileError) as info:
        emit_python(lower(project, "odd"), project.origin)
    (diag,) = info.value.diagnostics
    assert diag.code == "emit.unsupported" and "replace" in diag.message
    assert str(diag.origin) == f"{path}:7:7"


def test_cli_compile_emit_python(cli, write, tmp_path):
    out = tmp_path / "generated"
    result = cli("compile", "--emit", "python", out, ROOT / "examples" / "quickstart")
    assert result.exit_code == 0, result.output
    assert (out / "hello.py").exists() and "hello.py" in result.output
    assert ruff("check", str(out)).returncode == 0

    result = cli("compile", "--emit", "java", out, ROOT / "examples" / "quickstart")
    assert result.exit_code == 1 and "targets: python" in result.output

    bad = write(
        "bad.yaml",
        flow_yaml(
            "odd",
            '  parameters:\n    x: {type: integer, default: 1}\n  tasks:\n    - name: a\n      python: pfx_tasks:add\n      when: "$[ params.x is defined ]"\n',
        ),
    )
    result = cli("compile", "--emit", "python", tmp_path / "nothing", bad)
    assert result.exit_code == 1
    assert f"{bad}:9:7: error[emit.unsupported]" in result.output and "test 'defined'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "nothing").exists()


def test_cli_compile_refuses_a_task_reading_a_hooks_task_with_a_location(cli, write, tmp_path):
    """A hook's task runs only as the hook: a task reading its result is refused where it is
    written (the task ordering once raised IndexError on it, as a traceback)."""
    bad = write(
        "hooked.yaml",
        flow_yaml(
            "hooked",
            "  tasks:\n"
            "    - {name: notify, python: pfx_tasks:add, inputs: {a: 1, b: 2}}\n"
            "    - name: a\n"
            "      python: pfx_tasks:add\n"
            '      inputs: {a: "$[ tasks.notify.result ]", b: 1}\n'
            "      hooks: {on_failure: [{task: notify}]}\n",
        ),
    )
    result = cli("compile", "--emit", "python", tmp_path / "nothing", bad)
    assert result.exit_code == 1, result.output
    assert f"{bad}:8:7: error[compile.hook-task-used]" in result.output and "'notify'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "nothing").exists()


# -- the emitted module runs by itself ------------------------------------------------------------


def test_emitted_module_runs_with_python_against_the_server(write, tmp_path):
    """`python OUT/flow.py --param k=v` runs the flow (defaults for the rest), with its
    tags, and the flow run completes on the server with those parameters."""
    import os

    from pipeform.compiler import lower
    from pipeform.compiler.emit import emit_python

    name = f"emitted-main-{uuid.uuid4().hex[:8]}"
    record = tmp_path / "record.jsonl"
    spec = (
        "  tags: [emitted-main]\n"
        "  parameters:\n"
        "    a: {type: integer, default: 1}\n"
        "    label: {type: string, default: plain}\n"
        "  tasks:\n"
        "    - {name: total, python: pfx_tasks:add, inputs: {a: '$[ params.a ]', b: 2}}\n"
        f"    - {{name: keep, python: pfx_tasks:record, inputs: {{path: '{record}', value: '$[ params.label ]-$[ tasks.total.result ]'}}}}\n"
    )
    project = project_of(write, flow_yaml(name, spec))
    out = tmp_path / "out"
    out.mkdir()
    module = out / f"{name.replace('-', '_')}.py"
    module.write_text(emit_python(lower(project, name), project.origin))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, str(module), "--param", "a=5", "--param", "label=given"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert [json.loads(line)["value"] for line in record.read_text().splitlines()] == ["given-7"]

    from server_helpers import server

    flows = server("POST", "/flows/filter", {"flows": {"name": {"any_": [name]}}})
    runs = server("POST", "/flow_runs/filter", {"flows": {"name": {"any_": [name]}}})
    assert len(flows) == 1 and len(runs) == 1
    assert runs[0]["state_type"] == "COMPLETED"
    assert runs[0]["parameters"] == {"a": 5, "label": "given"}
    assert "emitted-main" in runs[0]["tags"]

    bad = subprocess.run([sys.executable, str(module), "--param", "nothing"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "expected NAME=VALUE" in bad.stderr
