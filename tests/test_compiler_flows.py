"""Compiled flows run for real against the session's Prefect server; behaviour is read
back from the Prefect API (states, task runs, logs), not from mocks."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path

import pytest

from pipeform.spec import load_project

FIXTURES = Path(__file__).parent / "fixtures" / "compiler_pkg"
sys.path.insert(0, str(FIXTURES))
pytestmark = pytest.mark.usefixtures("prefect_api")


def compile_yaml(write, text: str, name: str = "f"):
    from pipeform.compiler import compile_flow

    path = write("flow.yaml", "apiVersion: pipeform/v1\nkind: Flow\nmetadata:\n  name: " + name + "\nspec:\n" + text)
    project, diagnostics = load_project([path])
    assert project is not None, diagnostics
    return compile_flow(project, name)


def api(coro_fn):
    from prefect.client.orchestration import get_client

    async def go():
        async with get_client() as client:
            return await coro_fn(client)

    return asyncio.run(go())


def task_runs(flow_run_id):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read(client):
        return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))

    # Task-run states reach the server through Prefect's event stream, after the flow run has
    # returned: under load the last ones may still be missing or Pending. Read until every
    # state is final and two reads agree.
    deadline = time.monotonic() + 60
    previous = None
    while True:
        runs = api(read)
        current = sorted((str(r.id), r.state.name if r.state else None) for r in runs)
        settled = all(r.state is not None and r.state.is_final() for r in runs)
        if (settled and current == previous) or time.monotonic() > deadline:
            return runs
        previous = current
        time.sleep(0.5)


def logs(flow_run_id) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async def read(client):
        return await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))

    time.sleep(1.5)  # logs are shipped in batches
    return [entry.message for entry in api(read)]


def by_name(runs):
    out = {}
    for r in runs:
        out.setdefault(r.name.rsplit("-", 1)[0], []).append(r)
    return out


def test_data_flow_params_and_paths(write):
    flow = compile_yaml(
        write,
        """\
  parameters:
    a: {type: integer, default: 2}
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
        b: $[ tasks.second.result['rows'][2] ]
  returns: {sum: "$[ tasks.third.result ]", name: "$[ tasks.second.result.name ]-x"}
""",
    )
    state = flow(a=10, return_state=True)
    assert state.is_completed()
    assert state.result() == {"sum": 16, "name": "orders-x"}
    names = by_name(task_runs(state.state_details.flow_run_id))
    assert set(names) == {"first", "second", "third"}
    assert all(r.state.is_completed() for rs in names.values() for r in rs)


def test_parameter_schema_enforced_by_prefect(write):
    flow = compile_yaml(
        write,
        """\
  parameters:
    n: {type: integer, description: How many., required: true}
    mode: {type: string, enum: [full, fast], default: full}
  tasks:
    - {name: t, python: "pfx_tasks:add", inputs: {a: "$[ params.n ]"}}
""",
    )
    assert flow.parameters.properties["n"]["description"] == "How many."
    assert flow.parameters.required == ["n"]
    assert flow(n=4, return_state=True).result() == {"t": 4}
    state = flow(n="not a number", return_state=True)
    assert not state.is_completed()
    state = flow(n=1, mode="slow", return_state=True)
    assert not state.is_completed()


def test_retries_with_exponential_backoff(write, tmp_path):
    counter = tmp_path / "calls"
    flow = compile_yaml(
        write,
        f"""\
  tasks:
    - name: shaky
      python: pfx_tasks:flaky
      inputs: {{path: "{counter}", failures: 2}}
      retries: 3
      retry_delay_seconds: {{backoff: exponential, base_seconds: 0.5, factor: 2, max_seconds: 5}}
      retry_on: [ConnectionError]
""",
    )
    state = flow(return_state=True)
    assert state.is_completed(), state
    assert state.result() == {"shaky": "succeeded on attempt 3"}
    (run,) = task_runs(state.state_details.flow_run_id)
    assert run.run_count == 3
    times = [float(x) for x in Path(str(counter) + ".times").read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0  # 0.5 s, then 0.5 * 2


def test_retry_on_other_exception_does_not_retry(write, tmp_path):
    counter = tmp_path / "calls"
    flow = compile_yaml(
        write,
        f"""\
  tasks:
    - name: shaky
      python: pfx_tasks:flaky
      inputs: {{path: "{counter}", failures: 2}}
      retries: 3
      retry_on: [TimeoutError]
""",
    )
    assert not flow(return_state=True).is_completed()
    assert counter.read_text() == "1"


def test_cache_reuses_result(write, tmp_path):
    log = tmp_path / "log"
    flow = compile_yaml(
        write,
        f"""\
  tasks:
    - name: cached
      python: pfx_tasks:record
      inputs: {{path: "{log}", value: 42}}
      cache: {{policy: inputs, expiration_seconds: 600}}
      persist_result: true
""",
    )
    assert flow(return_state=True).result() == {"cached": 42}
    second = flow(return_state=True)
    assert second.result() == {"cached": 42}
    assert len(log.read_text().splitlines()) == 1  # the callable ran once
    (run,) = task_runs(second.state_details.flow_run_id)
    assert run.state.name == "Cached"


def test_mapping_zipped_and_unmapped(write):
    flow = compile_yaml(
        write,
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
""",
    )
    state = flow(return_state=True)
    assert state.result() == {"summed": 132}
    names = by_name(task_runs(state.state_details.flow_run_id))
    assert len(names["pairs"]) == 3 and len(names["doubled"]) == 3


def test_when_skips_task_and_its_readers(write):
    flow = compile_yaml(
        write,
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
    - name: always
      python: pfx_tasks:add
      inputs: {a: 1}
      depends_on: [full_only]
""",
    )
    state = flow(return_state=True)
    assert state.is_completed()
    assert state.result() == {"always": 1}
    runs = by_name(task_runs(state.state_details.flow_run_id))
    assert runs["full_only"][0].state.name == "Skipped"
    assert runs["reader"][0].state.name == "Skipped"
    assert flow(mode="full", return_state=True).result() == {"always": 1, "reader": 6}


def test_timeout_fails_the_task(write):
    flow = compile_yaml(
        write, "  tasks:\n    - {name: slow, python: 'pfx_tasks:sleep', inputs: {seconds: 5}, timeout_seconds: 0.5}\n"
    )
    state = flow(return_state=True)
    assert not state.is_completed()
    (run,) = task_runs(state.state_details.flow_run_id)
    assert run.state.name == "TimedOut"


def test_continue_on_failure_and_failure_hook(write, tmp_path):
    marker = tmp_path / "hook-ran"
    flow = compile_yaml(
        write,
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
    state = flow(return_state=True)
    runs = by_name(task_runs(state.state_details.flow_run_id))
    assert runs["breaks"][0].state.is_failed()
    assert runs["after"][0].state.is_completed()

    failing = compile_yaml(
        write,
        f"""\
  hooks:
    on_failure:
      - shell: touch {marker}
  tasks:
    - {{name: breaks, python: "pfx_tasks:boom"}}
""",
        name="g",
    )
    assert failing(return_state=True).is_failed()
    assert marker.exists()

    # a declared shell task as the hook: it gets its command, and $[ params ] resolve
    notified = tmp_path / "notified-7"
    hooked = compile_yaml(
        write,
        f"""\
  parameters:
    n: {{type: integer, default: 7}}
  hooks:
    on_failure:
      - task: notify
  tasks:
    - {{name: breaks, python: "pfx_tasks:boom"}}
    - name: notify
      shell: touch {tmp_path}/notified-$[ params.n ]
""",
        name="h",
    )
    assert hooked(return_state=True).is_failed()
    assert notified.exists()


def test_shell_streams_logs_and_reports_failure(write):
    flow = compile_yaml(
        write,
        """\
  parameters:
    who: {type: string, default: yaml}
  tasks:
    - name: talk
      shell:
        command: "echo line-one; echo line-two-$[ params.who ]; echo warn-line 1>&2"
        capture: lines
""",
    )
    state = flow(return_state=True)
    assert state.result() == {"talk": ["line-one", "line-two-yaml"]}
    messages = logs(state.state_details.flow_run_id)
    assert {"line-one", "line-two-yaml", "warn-line"} <= set(messages)

    failing = compile_yaml(write, "  tasks:\n    - {name: bad, shell: 'echo about to fail; exit 3'}\n", name="g")
    state = failing(return_state=True)
    assert state.is_failed()
    (run,) = task_runs(state.state_details.flow_run_id)
    assert "exited with code 3" in run.state.message and "about to fail" in run.state.message


def test_subflow_runs_as_child(write):
    from pipeform.compiler import compile_flow

    path = write(
        "flows.yaml",
        """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: child}
spec:
  parameters:
    x: {type: integer}
  tasks:
    - {name: dbl, python: "pfx_tasks:double", inputs: {x: "$[ params.x ]"}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: parent}
spec:
  tasks:
    - {name: call, subflow: {flow: child}, inputs: {x: 21}}
""",
    )
    project, diags = load_project([path])
    assert project is not None, diags
    state = compile_flow(project, "parent")(return_state=True)
    assert state.result() == {"call": {"dbl": 42}}
    parent_id = state.state_details.flow_run_id

    async def children(client):
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
        )

    kids = api(children)
    assert len(kids) == 1 and kids[0].state.is_completed()


def test_flow_options_and_tags(write):
    flow = compile_yaml(
        write,
        """\
  tags: [team-data]
  run_name: "run-$[ params.day ]"
  task_runner: {type: thread_pool, max_workers: 2}
  parameters:
    day: {type: string, default: mon}
  tasks:
    - {name: t, python: "pfx_tasks:add", inputs: {a: 1}, tags: [fast]}
""",
    )
    state = flow(day="tue", return_state=True)
    fr_id = state.state_details.flow_run_id

    async def read(client):
        return await client.read_flow_run(fr_id)

    run = api(read)
    assert run.name == "run-tue"
    assert "team-data" in run.tags
    (task,) = task_runs(fr_id)
    assert {"team-data", "fast"} <= set(task.tags)


def test_loader_entrypoint(write, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    from pipeform.compiler import entrypoint_for

    path = write(
        "flow.yaml",
        "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: my-flow}\nspec:\n  tasks:\n    - {name: t, python: 'pfx_tasks:add', inputs: {a: 5}}\n",
    )
    monkeypatch.chdir(path.parent)
    loaded = load_flow_from_entrypoint(entrypoint_for("my-flow"))
    assert loaded.name == "my-flow"
    assert loaded(return_state=True).result() == {"t": 5}


ROOT = Path(__file__).resolve().parent.parent
NEEDS_A_PERSON = {"release"}  # waits for an approval in the UI, then triggers a deployment


def _example_flows():
    from pipeform.spec import split_projects

    for group in split_projects([ROOT / "examples"]):
        project, diagnostics = load_project(group)
        assert project is not None, diagnostics
        for name in sorted(project.flows):
            yield pytest.param(group, name, id=f"{project.name}:{name}")


@pytest.mark.parametrize(("group", "flow_name"), list(_example_flows()))
def test_every_example_flow_runs_to_completed(group, flow_name):
    from pipeform.compiler import compile_flow

    if flow_name in NEEDS_A_PERSON:
        pytest.skip("waits for a person's approval; the approval path is covered by test_approval_resumed_by_the_test")
    project, _ = load_project(group)
    state = compile_flow(project, flow_name)(return_state=True)
    assert state.is_completed(), state


def test_check_imports_is_opt_in_and_located(cli, write, tmp_path):
    marker = tmp_path / "imported"
    pkg = tmp_path / "userpkg_imports.py"
    pkg.write_text(f"open({str(marker)!r}, 'w').close()\n\ndef load(table, rows):\n    return rows\n")
    path = write(
        "flow.yaml",
        "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: f}\nspec:\n  tasks:\n"
        "    - name: a\n      python: userpkg_imports:load\n      inputs:\n        table: t\n        colums: 1\n"
        "    - name: b\n      python: userpkg_imports:nothere\n",
    )
    assert cli("validate", path).exit_code == 0
    assert not marker.exists()  # plain validation imports nothing
    result = cli("validate", "--check-imports", path)
    assert result.exit_code == 1
    assert marker.exists()
    assert f"{path}:10:9: error[import.unknown-arg]" in result.output
    assert "error[import.missing-arg]" in result.output and "'rows'" in result.output
    assert f"{path}:12:15: error[import.error]" in result.output
