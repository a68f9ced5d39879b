"""`source.git.credentials_block` in a real authenticated clone: a Secret block holds the
token, the deployment's git_clone step references it, and a process worker's run clones
from a git remote on 127.0.0.1 that refuses anyone without the token (git http-backend
behind HTTPS with Basic auth, tests/git_http.py), then runs the cloned code."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from git_http import GitHTTPServer
from server_helpers import apply_specs, plan_specs, project_dir, server

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]

PROBE = """\
import os

MARKER = "@@MARK@@"


def mark(path: str) -> str:
    with open(path, "w") as f:
        f.write(MARKER + " " + os.getcwd())
    return MARKER
"""

SPECS = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-flow}
spec:
  tasks:
    - {name: t, python: "probe:mark", inputs: {path: OUT}}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-pool}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-git-token}
spec:
  type: secret
  data: {value: {from_env: PF_TEST_GIT_TOKEN}}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: from-git}
spec:
  flow: NAME-flow
  work_pool:
    name: NAME-pool
    job_variables: {env: {GIT_SSL_CAINFO: CERT, GIT_TERMINAL_PROMPT: "0"}}
  source:
    git: {repository: "URL/NAME.git", branch: main, credentials_block: NAME-git-token}
"""


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def remote(tmp_path):
    token = f"gt-{uuid.uuid4().hex}"
    (tmp_path / "remotes").mkdir()
    srv = GitHTTPServer(tmp_path / "remotes", token).start(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


def test_clone_with_a_token_from_a_secret_block_runs_the_cloned_code(tmp_path, monkeypatch, cli, remote):
    marker = f"from-the-clone-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "seen.txt"
    specs = SPECS.replace("OUT", str(out)).replace("CERT", str(remote.cert_path)).replace("URL", remote.url)
    path, name = project_dir(tmp_path, specs, prefix="gitc")
    (path / "probe.py").write_text(PROBE.replace("@@MARK@@", marker))
    # the project folder is the repository the worker clones (specs and code)
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(tmp_path / "remotes" / f"{name}.git"))
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "flow code")
    _git(path, "push", "-q", str(tmp_path / "remotes" / f"{name}.git"), "main")
    (path / "probe.py").write_text(PROBE.replace("@@MARK@@", "the-local-copy"))  # never what runs

    # the remote really refuses a clone without the token
    anon = subprocess.run(
        ["git", "clone", "-q", f"{remote.url}/{name}.git", str(tmp_path / "anon")],
        env={**os.environ, "GIT_SSL_CAINFO": str(remote.cert_path), "GIT_TERMINAL_PROMPT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert anon.returncode != 0 and remote.requests and {s for _, s in remote.requests} == {401}
    remote.requests.clear()

    monkeypatch.setenv("PF_TEST_GIT_TOKEN", remote.token)
    plan, outcomes, _ = apply_specs(path)
    assert plan.errors == () and all(o.ok for o in outcomes), outcomes
    dep = server("GET", f"/deployments/name/{name}-flow/from-git")
    clone = dep["pull_steps"][0]["prefect.deployments.steps.git_clone"]
    assert clone["access_token"] == "{{ prefect.blocks.secret." + name + "-git-token }}"
    assert "credentials" not in clone
    assert remote.token not in repr(dep)

    run = server("POST", f"/deployments/{dep['id']}/create_flow_run", {})
    result = cli("worker", "start", "--pool", f"{name}-pool", "--run-once", "--state-dir", tmp_path / "state")
    assert result.exit_code == 0, result.output
    state = server("GET", f"/flow_runs/{run['id']}")["state"]
    assert state["type"] == "COMPLETED", state
    seen_marker, cwd = out.read_text().split(" ", 1)
    assert seen_marker == marker  # the cloned code ran, not the local copy
    assert Path(cwd).name == f"{name}-main" and Path(cwd) != path  # in git_clone's checkout
    # the clone authenticated with the token from the Secret block (Prefect sends it as the user name)
    assert (remote.token, 200) in remote.requests
    logs = server("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}})
    assert logs and remote.token not in repr(logs) and remote.token not in result.output
    assert plan_specs(path).pending == ()
