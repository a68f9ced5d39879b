"""`pipeform init` in an empty folder, then as a new user goes on: validate, apply on the
session's real server, trigger, a process worker runs it: the run completes. Also: the
scaffold's editor settings, workflow and pre-commit config point at things that exist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from server_helpers import server

ROOT = Path(__file__).resolve().parent.parent


def pipeform(cwd: Path, *args: object, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "pipeform", *map(str, args)],
        cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_init_scaffolds_editor_ci_and_hook_files(tmp_path):
    folder = tmp_path / "Team Pipelines"
    done = pipeform(tmp_path, "init", folder)
    assert done.returncode == 0, done.stdout + done.stderr
    project = yaml.safe_load((folder / "pipelines" / "project.yaml").read_text().split("---")[0])
    assert project["metadata"]["name"] == "team-pipelines"  # a valid name made from the folder's
    settings = json.loads((folder / ".vscode" / "settings.json").read_text())
    [(schema, globs)] = settings["yaml.schemas"].items()
    assert json.loads((folder / schema).read_text())["$schema"].startswith("http://json-schema.org/")
    assert "pipelines/*.yaml" in globs
    for spec in (folder / "pipelines").glob("*.yaml"):  # the modeline points at the same schema copy
        modeline = spec.read_text().splitlines()[0]
        assert (spec.parent / modeline.split("$schema=")[1]).resolve() == (folder / schema).resolve()
    assert (folder / ".github/workflows/pipeform.yml").read_text() == (
        ROOT / "pipeform/templates/github-workflow.yml"
    ).read_text()
    # The workflow's plan and apply steps use `--env X`: the scaffold has that overlay.
    workflow = yaml.safe_load((folder / ".github/workflows/pipeform.yml").read_text())
    envs = {s["with"]["env"] for job in workflow["jobs"].values() for s in job["steps"] if "env" in s.get("with", {})}
    assert envs
    for env in envs:
        checked = pipeform(folder, "validate", "--env", env, "pipelines")
        assert checked.returncode == 0, checked.stdout + checked.stderr
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    config = yaml.safe_load((folder / ".pre-commit-config.yaml").read_text())
    assert {h["id"] for h in config["repos"][0]["hooks"]} == hooks
    # Never overwrites: a second init refuses and names the files.
    again = pipeform(tmp_path, "init", folder)
    assert again.returncode == 1 and "pipelines/project.yaml" in again.stderr and "--force" in again.stderr


@pytest.mark.slow
def test_init_validate_apply_trigger_and_the_run_completes(prefect_api, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    name = f"init-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PIPEFORM_STATE_DIR": str(tmp_path / "state")}
    steps = [
        ("init", ".", "--name", name),
        ("validate", "pipelines"),
        ("apply", "pipelines", "--auto-approve"),
        ("trigger", "hello/daily", "--no-wait"),
    ]
    outputs = []
    for step in steps:
        done = pipeform(folder, *step, env=env)
        assert done.returncode == 0, f"{step}: {done.stdout}{done.stderr}"
        outputs.append(done.stdout)
    dep = server("GET", "/deployments/name/hello/daily")
    assert dep["work_pool_name"] == f"{name}-pool" and dep["parameters"] == {"who": name}
    assert f"pipeform:{name}" in dep["tags"]
    run_id = outputs[-1].split("(")[1].split(")")[0]
    worker = pipeform(folder, "worker", "start", "--pool", f"{name}-pool", "--run-once", env=env, timeout=600)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    deadline = time.monotonic() + 60
    while (state := server("GET", f"/flow_runs/{run_id}")["state"])["type"] != "COMPLETED":
        assert state["type"] not in ("FAILED", "CRASHED") and time.monotonic() < deadline, state
        time.sleep(0.25)
    logs = server("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})
    assert any(f"hello, {name}!" in log["message"] for log in logs), [log["message"] for log in logs]
