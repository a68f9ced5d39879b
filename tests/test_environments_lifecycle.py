"""Per-flow environments over their life: collected when no deployment on the server uses
them (never while a run uses one), and locked for the workers' Python and platform (a
worker with another one refuses the run, with the reason on the run's state). Real server,
real process worker, real uv; what a run saw is read from the file it wrote."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import test_environments_run as base
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform.environments import paths
from pipeform.reconciler.render import plan_text

pytestmark = [pytest.mark.slow, pytest.mark.server]
envs_dir, process_worker = base.envs_dir, base.process_worker  # the same fixtures
_deployment_id, _wait = base._deployment_id, base._wait

PROBE = """\
import json, sys, time
from pathlib import Path


def seen(out: str, label: str, gate: str = "") -> dict:
    import six

    deadline = time.monotonic() + 240
    while gate and not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    data = {"six": six.__version__, "python": sys.executable}
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
metadata: {name: seen}
spec:
  parameters:
    out: {type: string, required: true}
    label: {type: string, required: true}
    gate: {type: string, default: ""}
  tasks:
    - name: seen
      python: "probe:seen"
      inputs: {out: "$[ params.out ]", label: "$[ params.label ]", gate: "$[ params.gate ]"}
"""


def _env(name: str, reqs: list[str], **extra: str) -> str:
    more = "".join(f"\n  {k}: {json.dumps(v)}" for k, v in extra.items())
    return (
        f"---\napiVersion: pipeform/v1\nkind: Environment\nmetadata: {{name: {name}}}\n"
        f"spec:\n  python_requirements: {json.dumps(reqs)}{more}\n"
    )


def _dep(name: str, env: str) -> str:
    return (
        f"---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {{name: {name}}}\n"
        f"spec:\n  flow: seen\n  work_pool: {{name: NAME-pool}}\n  environment: {env}\n"
    )


def _run(dep_id: str, out: Path, label: str, gate: Path | None = None) -> str:
    params = {"out": str(out), "label": label, "gate": str(gate) if gate else ""}
    return server("POST", f"/deployments/{dep_id}/create_flow_run", {"parameters": params})["id"]


def _wait_running(run_id: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = server("GET", f"/flow_runs/{run_id}")["state"]["type"]
        if state == "RUNNING":
            return
        assert state in ("SCHEDULED", "PENDING"), state
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} never started")


def _venvs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()


def _builds(root: Path) -> int:
    return len((root / "builds.log").read_text().splitlines())


def test_gc_keeps_what_deployments_use_and_waits_for_runs_in_progress(tmp_path, cli, envs_dir, process_worker):
    docs = FLOW + _env("old", ["six==1.16.0"]) + _env("new", ["six==1.17.0"])
    root, name = project_dir(tmp_path, docs + _dep("keep", "new") + _dep("drop", "old"))
    (root / "probe.py").write_text(PROBE)
    apply_specs(root)
    keep_id, drop_id = _deployment_id("seen", "keep"), _deployment_id("seen", "drop")
    out = tmp_path / "out"
    out.mkdir()
    gate = tmp_path / "gate"
    process_worker(f"{name}-pool")
    first = _run(keep_id, out, "keep1")
    busy = _run(drop_id, out, "busy", gate)  # still running (waits for the gate) when its deployment goes
    assert _wait([first])[first]["type"] == "COMPLETED"
    _wait_running(busy)
    seen_keep = json.loads((out / "keep1.json").read_text())
    assert seen_keep["six"] == "1.17.0"
    keep_env = Path(seen_keep["python"]).parents[1].name
    [drop_env] = _venvs(envs_dir) - {keep_env}

    project_dir(tmp_path, docs + _dep("keep", "new"), name=name)  # "drop" removed from the specs
    apply_specs(root, prune=True)
    assert server("POST", "/deployments/filter", {"deployments": {"id": {"any_": [drop_id]}}}) == []

    result = cli("env", "gc")  # default grace: "drop"'s environment ran moments ago
    assert result.exit_code == 0, result.output
    assert _venvs(envs_dir) == {keep_env, drop_env}
    result = cli("env", "gc", "--grace-hours", "0")  # no grace, but a run is using it
    assert result.exit_code == 0 and "0 environments removed" in result.output, result.output
    assert _venvs(envs_dir) == {keep_env, drop_env}

    gate.write_text("go")
    assert _wait([busy])[busy]["type"] == "COMPLETED"
    assert json.loads((out / "busy.json").read_text())["six"] == "1.16.0"  # it finished in its own environment
    out_text = ""
    deadline = time.monotonic() + 30  # the engine process exits (its lock goes) just after the final state
    while time.monotonic() < deadline and f"removed {drop_env}" not in out_text:
        out_text = cli("env", "gc", "--grace-hours", "0").output
        time.sleep(0.5)
    assert f"removed {drop_env}" in out_text and keep_env not in out_text
    assert _venvs(envs_dir) == {keep_env}

    again = _run(keep_id, out, "keep2")  # the used environment is still there, warm
    assert _wait([again])[again]["type"] == "COMPLETED"
    seen_again = json.loads((out / "keep2.json").read_text())
    assert seen_again["python"] == seen_keep["python"] and seen_again["six"] == "1.17.0"
    assert _builds(envs_dir) == 2  # built once each, nothing rebuilt


def test_lock_targets_the_workers_python_and_a_mismatch_fails_the_run_with_the_reason(
    tmp_path, envs_dir, process_worker
):
    here = paths.python_version()
    other = f"3.{sys.version_info.minor + 1}"
    marker = ["six==1.17.0", f'tabulate==0.9.0; python_version >= "{other}"']
    docs = (
        FLOW
        + _env("same", marker, python=here)
        + _env("newer", marker, python=other)
        + _env(
            "mac", ["six==1.17.0", 'tabulate==0.9.0; sys_platform == "darwin"'], python_platform="aarch64-apple-darwin"
        )
    )
    root, name = project_dir(tmp_path, docs + _dep("same", "same") + _dep("newer", "newer") + _dep("mac", "mac"))
    (root / "probe.py").write_text(PROBE)
    plan = plan_specs(root)
    locks = {
        c.address.split("/")[-1]: c.after["job_variables"]["env"]["PIPEFORM_ENVIRONMENT_LOCK"]
        for c in plan.pending
        if c.kind == "deployment"
    }
    # Resolved for the target, not for this machine: the markers say so.
    assert locks["same"].startswith(f"# pipeform-lock/1 python={here} ") and "\ntabulate==" not in locks["same"]
    assert locks["newer"].startswith(f"# pipeform-lock/1 python={other} ") and "\ntabulate==0.9.0\n" in locks["newer"]
    assert "platform=aarch64-apple-darwin" in locks["mac"] and "\ntabulate==0.9.0\n" in locks["mac"]
    apply_specs(root)
    out = tmp_path / "out"
    out.mkdir()
    runs = {n: _run(_deployment_id("seen", n), out, n) for n in ("same", "newer", "mac")}
    process_worker(f"{name}-pool")
    states = _wait(list(runs.values()))
    assert states[runs["same"]]["type"] == "COMPLETED"
    assert Path(json.loads((out / "same.json").read_text())["python"]).is_relative_to(envs_dir)
    newer, mac = states[runs["newer"]], states[runs["mac"]]
    assert newer["type"] == "FAILED" and mac["type"] == "FAILED", (newer, mac)
    assert f"resolved for Python {other} (this worker runs Python {here}" in newer["message"]
    assert "Environment 'newer'" in newer["message"] and "`python`" in newer["message"]
    assert "resolved for macos/aarch64 (this worker is linux/" in mac["message"]
    assert not (out / "newer.json").exists() and not (out / "mac.json").exists()  # no flow code ran
    assert _builds(envs_dir) == 1  # nothing built for the mismatched locks

    spec = root / "project.yaml"  # the fix the message names shows in the plan
    spec.write_text(spec.read_text().replace(f'python: "{other}"', f'python: "{here}"'))
    text = plan_text(plan_specs(root))
    assert "~ environment newer" in text and f"python {other} -> {here}" in text and "- tabulate==0.9.0" in text
