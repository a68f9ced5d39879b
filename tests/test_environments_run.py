"""Per-flow environments end to end: real server, real process worker, real uv.

Each run writes what its own interpreter sees (six and tabulate versions, sys.executable,
where prefect_dask came from) to a file named after the run; the tests read those files."""

from __future__ import annotations

import importlib.metadata as md
import json
import sys
import time
from pathlib import Path

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform import server as pf_server
from pipeform import worker
from pipeform.reconciler.render import plan_text

pytestmark = [pytest.mark.slow, pytest.mark.server]

PROBE = """\
import json, sys
from pathlib import Path


def versions(out: str, label: str) -> dict:
    import importlib.metadata as md
    import six

    try:
        import tabulate
        tab = tabulate.__version__
    except ImportError:
        tab = None
    data = {"six": six.__version__, "tabulate": tab, "python": sys.executable,
            "prefect": md.version("prefect")}
    try:
        import prefect_dask
        data["prefect_dask"] = prefect_dask.__file__
    except ImportError:
        data["prefect_dask"] = None
    Path(out, label + ".json").write_text(json.dumps(data))
    return data
"""

FLOW = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-pool}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: probe}
spec:
  parameters:
    out: {type: string, required: true}
    label: {type: string, required: true}
  tasks:
    - name: versions
      python: "probe:versions"
      inputs: {out: "$[ params.out ]", label: "$[ params.label ]"}
"""


def _env_doc(name: str, reqs: list[str]) -> str:
    return f"---\napiVersion: pipeform/v1\nkind: Environment\nmetadata: {{name: {name}}}\nspec:\n  python_requirements: {json.dumps(reqs)}\n"


def _deployment(name: str, env: str | None, flow: str = "probe") -> str:
    env_line = f"\n  environment: {env}" if env else ""
    return (
        f"---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {{name: {name}}}\n"
        f"spec:\n  flow: {flow}\n  work_pool: {{name: NAME-pool}}{env_line}\n"
    )


@pytest.fixture
def envs_dir(tmp_path, monkeypatch):
    """Environments of this test only (the worker inherits the variable)."""
    d = tmp_path / "environments"
    monkeypatch.setenv("PIPEFORM_ENVIRONMENTS_DIR", str(d))
    return d


@pytest.fixture
def process_worker(prefect_api, tmp_path):
    """Start a real `prefect worker` for a pool (pipeform's own starter); stopped after the test."""
    state = tmp_path / "worker-state"
    started: list[str] = []

    def start(pool: str) -> int:
        pid, _ = worker.start_worker(pool, pf_server.ServerInfo(url=prefect_api, pid=None, home=None), state)
        started.append(pool)
        return pid

    yield start
    for pool in started:
        worker.stop_workers(state, pool)


def _deployment_id(flow: str, name: str) -> str:
    return server("GET", f"/deployments/name/{flow}/{name}")["id"]


def _run(dep_id: str, out: Path, label: str) -> str:
    body = {"parameters": {"out": str(out), "label": label}}
    return server("POST", f"/deployments/{dep_id}/create_flow_run", body)["id"]


def _wait(run_ids: list[str], timeout: float = 300) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    states: dict[str, dict] = {}
    while time.monotonic() < deadline:
        states = {r: server("GET", f"/flow_runs/{r}")["state"] for r in run_ids}
        if all(s["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in states.values()):
            return states
        time.sleep(0.5)
    raise AssertionError(f"runs did not finish: {states}")


def _worker_packages() -> dict[str, str]:
    return {d.metadata["Name"].lower(): d.version for d in md.distributions()}


def test_conflicting_environments_run_side_by_side_on_one_worker(tmp_path, envs_dir, process_worker):
    body = (
        FLOW
        + _env_doc("old", ["six==1.16.0", "tabulate==0.8.10"])
        + _env_doc("new", ["six==1.17.0", "tabulate==0.9.0"])
        + _deployment("with-old", "old")
        + _deployment("with-new", "new")
        + _deployment("plain", None)
    )
    root, name = project_dir(tmp_path, body)
    (root / "probe.py").write_text(PROBE)
    before = _worker_packages()
    apply_specs(root)
    out = tmp_path / "out"
    out.mkdir()
    # Two runs of "old" at once as well: its environment is still built exactly once.
    runs = {
        "old": _run(_deployment_id("probe", "with-old"), out, "old"),
        "old2": _run(_deployment_id("probe", "with-old"), out, "old2"),
        "new": _run(_deployment_id("probe", "with-new"), out, "new"),
        "plain": _run(_deployment_id("probe", "plain"), out, "plain"),
    }
    process_worker(f"{name}-pool")
    states = _wait(list(runs.values()))
    assert all(s["type"] == "COMPLETED" for s in states.values()), states
    seen = {label: json.loads((out / f"{label}.json").read_text()) for label in runs}

    assert (seen["old"]["six"], seen["old"]["tabulate"]) == ("1.16.0", "0.8.10")
    assert (seen["old2"]["six"], seen["old2"]["tabulate"]) == ("1.16.0", "0.8.10")
    assert (seen["new"]["six"], seen["new"]["tabulate"]) == ("1.17.0", "0.9.0")
    assert seen["plain"]["tabulate"] is None and seen["plain"]["python"] == sys.executable
    # Each Environment ran in its own interpreter under the environments folder, with the worker's Prefect.
    assert seen["old"]["python"] == seen["old2"]["python"] != seen["new"]["python"]
    assert all(Path(seen[k]["python"]).is_relative_to(envs_dir) for k in ("old", "new"))
    assert {seen[k]["prefect"] for k in seen} == {md.version("prefect")}
    builds = (envs_dir / "builds.log").read_text().split("\n")
    assert len([b for b in builds if b]) == 2, builds  # old once (two concurrent runs), new once
    assert _worker_packages() == before  # the worker's own environment is untouched


def test_changed_requirement_plans_applies_and_runs_the_new_version(tmp_path, envs_dir, process_worker):
    root, name = project_dir(tmp_path, FLOW + _env_doc("rt", ["six", "tabulate==0.8.10"]) + _deployment("d", "rt"))
    (root / "probe.py").write_text(PROBE)
    apply_specs(root)
    dep_id = _deployment_id("probe", "d")
    out = tmp_path / "out"
    out.mkdir()
    process_worker(f"{name}-pool")
    first = _run(dep_id, out, "first")
    assert _wait([first])[first]["type"] == "COMPLETED"
    assert json.loads((out / "first.json").read_text())["tabulate"] == "0.8.10"
    old_version = server("GET", f"/deployments/{dep_id}")["version"]

    # Unchanged: the plan is empty and the next run builds nothing.
    assert not plan_specs(root).pending
    again = _run(dep_id, out, "again")
    assert _wait([again])[again]["type"] == "COMPLETED"
    assert len((envs_dir / "builds.log").read_text().splitlines()) == 1

    spec = root / "project.yaml"
    spec.write_text(spec.read_text().replace("tabulate==0.8.10", "tabulate==0.9.0"))
    plan = plan_specs(root)
    [change] = plan.pending
    assert change.address == "deployment.probe/d"
    paths = {d.path for d in change.diffs}
    assert "version" in paths and any("PIPEFORM_ENVIRONMENT_LOCK" in p for p in paths), paths
    lock_diff = next(d for d in change.diffs if "PIPEFORM_ENVIRONMENT_LOCK" in d.path)
    assert "tabulate==0.8.10" in lock_diff.old and "tabulate==0.9.0" in lock_diff.new
    text = plan_text(plan)
    assert "~ environment rt" in text and "tabulate 0.8.10 -> 0.9.0" in text and "deployment.probe/d" in text
    apply_specs(root)
    new_version = server("GET", f"/deployments/{dep_id}")["version"]
    assert new_version != old_version and ".env." in new_version
    second = _run(dep_id, out, "second")
    assert _wait([second])[second]["type"] == "COMPLETED"
    assert json.loads((out / "second.json").read_text())["tabulate"] == "0.9.0"
    assert len((envs_dir / "builds.log").read_text().splitlines()) == 2


def test_a_requirement_conflicting_with_prefect_is_a_located_plan_error(tmp_path, cli, prefect_api):
    root, name = project_dir(tmp_path, FLOW + _env_doc("rt", ["anyio<4"]) + _deployment("d", "rt"))
    result = cli("plan", root)
    assert result.exit_code == 1
    assert "environment.unresolvable" in result.output and "anyio" in result.output
    assert f"{root / 'project.yaml'}:" in result.output  # file:line:column of the requirement
    result = cli("apply", root, "--auto-approve")
    assert result.exit_code == 1
    found = httpx_get(f"{prefect_api}/work_pools/{name}-pool")
    assert found == 404  # nothing written, not even the pool


def httpx_get(url: str) -> int:
    import httpx

    return httpx.get(url, timeout=10).status_code


DASK_FLOW = """\
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: dasky}
spec:
  task_runner: {type: dask}
  parameters:
    out: {type: string, required: true}
    label: {type: string, required: true}
  tasks:
    - name: versions
      python: "probe:versions"
      inputs: {out: "$[ params.out ]", label: "$[ params.label ]"}
"""


def test_dask_flow_gets_prefect_dask_in_its_environment(tmp_path, envs_dir, process_worker):
    root, name = project_dir(tmp_path, FLOW + DASK_FLOW + _deployment("d", None, flow="dasky"))
    (root / "probe.py").write_text(PROBE)
    plan = plan_specs(root)
    dep = next(c for c in plan.pending if c.address == "deployment.dasky/d")
    assert "prefect-dask==" in dep.after["job_variables"]["env"]["PIPEFORM_ENVIRONMENT_LOCK"]
    apply_specs(root)
    out = tmp_path / "out"
    out.mkdir()
    process_worker(f"{name}-pool")
    run = _run(_deployment_id("dasky", "d"), out, "dask")
    assert _wait([run])[run]["type"] == "COMPLETED"
    seen = json.loads((out / "dask.json").read_text())
    # The worker's own venv has prefect-dask too (a test dependency): what this shows is that
    # the run used the copy inside its environment, which has it because the flow needs it.
    assert Path(seen["python"]).is_relative_to(envs_dir)
    assert Path(seen["prefect_dask"]).is_relative_to(envs_dir)
