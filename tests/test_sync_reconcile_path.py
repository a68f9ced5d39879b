"""The reconcile-path fixes `pipeform sync` relies on: a working directory that does not
move with the checkout (git-sync style), `.dirty` in the version, owned objects that left
the specs listed by `plan` without --prune and by `diff` with the right advice, and a
worker that runs a flow from the repository-relative working directory."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from server_helpers import apply_specs, plan_specs, server

from pipeform.reconciler.desired import desired_state
from pipeform.reconciler.inputs import gather_inputs, git_info
from pipeform.reconciler.render import drift_text, plan_text
from pipeform.spec import load_project_or_raise

FLOW = "from prefect import flow\n\n\n@flow\ndef shout(word: str = 'hi') -> str:\n    return word.upper()\n"


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def specs(name: str, deployments: list[str], pool: str | None = None, schedule: bool = False) -> str:
    text = f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n"
    for d in deployments:
        text += f"---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {{name: {d}}}\nspec:\n  entrypoint: flows.py:shout\n"
        if pool:
            text += f"  work_pool: {{name: {pool}}}\n"
        if schedule:
            text += "  schedules:\n    - {interval: 3600, slug: hourly}\n"
    return text


def new_repo(tmp_path: Path, text: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "specs" / "project.yaml").write_text(text)
    (repo / "specs" / "flows.py").write_text(FLOW)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    return repo


def test_working_directory_is_repository_relative_and_dirty_is_recorded(tmp_path):
    repo = new_repo(tmp_path, specs("p" + uuid.uuid4().hex[:8], ["a"]))
    project = load_project_or_raise([repo / "specs"])
    dep = next(r for r in desired_state(gather_inputs(project)) if r.kind == "deployment")
    step = {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PIPEFORM_REPO_ROOT }}/specs"}}
    assert dep.body["pull_steps"] == [step]
    sha = git(repo, "rev-parse", "HEAD")
    assert dep.body["version_full"].endswith(f".git.{sha[:12]}")
    (repo / "specs" / "flows.py").write_text(FLOW + "# edited\n")
    assert git_info(str(repo / "specs")).dirty
    dep = next(
        r for r in desired_state(gather_inputs(load_project_or_raise([repo / "specs"]))) if r.kind == "deployment"
    )
    assert dep.body["version_full"].endswith(f".git.{sha[:12]}.dirty")


def test_outside_git_the_absolute_folder_is_kept(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "project.yaml").write_text(specs("p" + uuid.uuid4().hex[:8], ["a"]))
    (d / "flows.py").write_text(FLOW)
    project = load_project_or_raise([d])
    dep = next(r for r in desired_state(gather_inputs(project)) if r.kind == "deployment")
    assert dep.body["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == project.root
    assert "version_full" not in dep.body


@pytest.mark.server
def test_git_sync_style_moving_checkout_rewrites_nothing(prefect_api, tmp_path):
    """`current -> .worktrees/<sha>`, as git-sync lays it out: a commit that does not change
    the deployment writes nothing, whatever the new checkout's path."""
    name = "gs" + uuid.uuid4().hex[:8]
    repo = new_repo(tmp_path, specs(name, [f"{name}-a", f"{name}-b"], schedule=True))
    root = tmp_path / "sync"
    (root / ".worktrees").mkdir(parents=True)

    def check_out() -> Path:
        sha = git(repo, "rev-parse", "HEAD")
        git(repo, "worktree", "add", "-q", "--detach", str(root / ".worktrees" / sha), sha)
        link = root / "current"
        tmp = root / "current.tmp"
        tmp.symlink_to(root / ".worktrees" / sha)
        os.replace(tmp, link)
        return link / "specs"

    _, outcomes, _ = apply_specs(check_out())
    assert outcomes and all(o.ok for o in outcomes)
    dep = server("GET", f"/deployments/name/shout/{name}-a")
    (repo / "README.md").write_text("docs only\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    _, outcomes, counters = apply_specs(check_out())
    assert outcomes == () and counters.writes == 0, counters.writes_by_path
    again = server("GET", f"/deployments/name/shout/{name}-a")
    assert again["updated"] == dep["updated"] and again["pull_steps"] == dep["pull_steps"]


@pytest.mark.server
def test_plan_without_prune_lists_owned_objects_that_left_the_specs(prefect_api, tmp_path):
    name = "or" + uuid.uuid4().hex[:8]
    d = tmp_path / name
    d.mkdir()
    (d / "flows.py").write_text(FLOW)
    (d / "project.yaml").write_text(specs(name, [f"{name}-a", f"{name}-b"]))
    _, outcomes, _ = apply_specs(d)
    assert outcomes and all(o.ok for o in outcomes)
    (d / "project.yaml").write_text(specs(name, [f"{name}-a"]))
    plan = plan_specs(d)
    gone = f"deployment.shout/{name}-b"
    assert not plan.pending and plan.orphans == (gone,)
    text = plan_text(plan)
    assert gone in text and "would be deleted with --prune" in text
    assert plan.from_json(plan.to_json()).orphans == (gone,)
    pruned = plan_specs(d, prune=True)
    assert [c.address for c in pruned.pending] == [gone] and pruned.orphans == ()

    import asyncio

    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import drift

    async def go():
        async with ServerAPI.from_env() as api:
            return await drift(api, load_project_or_raise([d]))

    changes = asyncio.run(go())
    text = drift_text(changes)
    assert [c.address for c in changes] == [gone]
    assert "`pipeform apply --prune` deletes the 1 no longer in the specs" in text
    assert "`pipeform apply` restores" not in text


@pytest.mark.server
@pytest.mark.slow
def test_worker_runs_a_flow_from_the_repository_relative_directory(cli, prefect_api, tmp_path, monkeypatch):
    """The deployment names no machine path; a worker started in another clone of the
    repository runs the flow from there."""
    name = "wk" + uuid.uuid4().hex[:8]
    pool = f"pool-{name}"
    repo = new_repo(tmp_path, specs(name, [name], pool=pool))
    server("POST", "/work_pools/", {"name": pool, "type": "process"})
    _, outcomes, _ = apply_specs(repo / "specs")
    assert outcomes and all(o.ok for o in outcomes)
    elsewhere = tmp_path / "worker-clone"
    git(tmp_path, "clone", "-q", str(repo), str(elsewhere))
    dep = server("GET", f"/deployments/name/shout/{name}")
    assert str(tmp_path) not in str(dep["pull_steps"])
    run = server("POST", f"/deployments/{dep['id']}/create_flow_run", {"parameters": {"word": "ok"}})
    monkeypatch.chdir(elsewhere / "specs")  # the worker's repository: where it was started
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.delenv("PIPEFORM_REPO_ROOT", raising=False)
    result = cli("worker", "start", "--pool", pool, "--run-once", "--state-dir", tmp_path / "state")
    assert result.exit_code == 0, result.output
    state = server("GET", f"/flow_runs/{run['id']}")["state"]
    assert state["type"] == "COMPLETED", state
