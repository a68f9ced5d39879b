"""The CI kit: the composite GitHub action and the documented workflow pass actionlint; the
action's shell steps (integrations/action.sh) run here against the session's real Prefect
server (install from the checkout, validate, plan as Markdown with the PR comment posted to a
real local HTTP server standing in for the GitHub API, apply); the GitLab template's job
scripts do the same with an MR note."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from ci_helpers import ROOT, ForgeAPI, actionlint, clean_env, venv_seeing_outer_packages
from server_helpers import server

from pipeform.reconciler.render_markdown import MARKER

ACTION_SH = ROOT / "integrations" / "action.sh"

SPEC = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: NAME}
spec: {}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-flow}
spec:
  parameters: {who: {type: string, default: world}}
  tasks: [{name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: "$[ params.who ]"}}]
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: nightly}
spec:
  flow: NAME-flow
  parameters: {who: WHO}
"""


def test_the_action_and_the_workflow_pass_actionlint(tmp_path):
    workflow = ROOT / "pipeform" / "templates" / "github-workflow.yml"
    done = actionlint([workflow], cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    # actionlint reads workflows: the composite action's steps are checked as the steps of a
    # job called with the action's inputs (expressions, contexts, step outputs, shell).
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    job = {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}
    synthetic = tmp_path / "action-steps.yml"
    synthetic.write_text(yaml.safe_dump({"on": {"workflow_call": {"inputs": inputs}}, "jobs": {"action": job}}))
    done = actionlint([synthetic], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # The linter really checks: a step reading an input the action does not declare fails.
    job["steps"][-1]["env"]["X"] = "${{ inputs.no-such-input }}"
    synthetic.write_text(yaml.safe_dump({"on": {"workflow_call": {"inputs": inputs}}, "jobs": {"action": job}}))
    done = actionlint([synthetic], cwd=tmp_path)
    assert done.returncode != 0 and "no-such-input" in done.stdout, done.stdout + done.stderr


def test_the_workflow_plans_pull_requests_and_applies_main_one_at_a_time():
    wf = yaml.safe_load((ROOT / "pipeform" / "templates" / "github-workflow.yml").read_text())
    triggers = wf[True]  # PyYAML reads the `on:` key as True
    assert set(triggers) == {"pull_request", "push"} and triggers["push"]["branches"] == ["main"]
    plan, apply = wf["jobs"]["plan"], wf["jobs"]["apply"]
    assert [s["with"]["command"] for s in plan["steps"] if "with" in s] == ["validate", "plan"]
    assert [s["with"]["command"] for s in apply["steps"] if "with" in s] == ["apply"]
    assert "refs/heads/main" in apply["if"] and apply["concurrency"]["cancel-in-progress"] is False
    assert wf["permissions"]["pull-requests"] == "write"


@pytest.fixture(scope="module")
def action_venv(tmp_path_factory):
    """The action's install step, run once: pipeform installed from this checkout."""
    target = venv_seeing_outer_packages(tmp_path_factory.mktemp("action") / "venv")
    env = clean_env(PIPEFORM_VENV=str(target), PIPEFORM_SOURCE=str(ROOT))
    done = subprocess.run(["bash", ACTION_SH, "install"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "bin" / "pipeform").exists()
    again = subprocess.run(["bash", ACTION_SH, "install"], env=env, capture_output=True, text=True, timeout=600)
    assert "up to date (cached)" in again.stdout, again.stdout + again.stderr
    return target


def _run_step(venv: Path, workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = clean_env(PIPEFORM_VENV=str(venv), PIPEFORM_OUT=str(workdir / "out"), **env)
    return subprocess.run(
        ["bash", ACTION_SH, "run"], cwd=workdir, env=full, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_action_steps_validate_plan_with_one_pr_comment_and_apply(action_venv, prefect_api, tmp_path):
    name = f"ci{uuid.uuid4().hex[:8]}"
    repo = tmp_path / "repo"
    (repo / "pipelines").mkdir(parents=True)
    spec = repo / "pipelines" / "pipeline.yaml"
    spec.write_text(SPEC.replace("NAME", name).replace("WHO", "a"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    forge = ForgeAPI()
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": forge.url,
        "GITHUB_REPOSITORY": "acme/pipelines",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": "ghs_test_token",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PREFECT_API_URL": prefect_api,
        "PIPEFORM_PATH": "pipelines",
    }
    try:
        valid = _run_step(action_venv, repo, PIPEFORM_COMMAND="validate", **github)
        assert valid.returncode == 0, valid.stdout + valid.stderr

        planned = _run_step(action_venv, repo, PIPEFORM_COMMAND="plan", PIPEFORM_COMMENT="github", **github)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert "changes=true" in output.read_text()
        [post] = [r for r in forge.requests if r["method"] == "POST"]
        assert post["path"] == "/repos/acme/pipelines/issues/7/comments"
        assert post["headers"]["authorization"] == "Bearer ghs_test_token"
        body = post["body"]["body"]
        assert body.startswith("<!-- pipeform-plan key=pipelines| -->\n" + MARKER)
        assert f"`deployment.{name}-flow/nightly`" in body and "**Plan: 1 to create" in body
        assert summary.read_text().startswith(MARKER)

        # A second push: the same comment is edited, no second one.
        spec.write_text(SPEC.replace("NAME", name).replace("WHO", "b"))
        again = _run_step(action_venv, repo, PIPEFORM_COMMAND="plan", PIPEFORM_COMMENT="github", **github)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(forge.comments) == 1 and [r["method"] for r in forge.requests].count("PATCH") == 1
        [comment] = forge.comments.values()
        assert f"`deployment.{name}-flow/nightly`" in comment["body"]

        applied = _run_step(action_venv, repo, PIPEFORM_COMMAND="apply", **github)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert server("GET", f"/deployments/name/{name}-flow/nightly")["parameters"] == {"who": "b"}
        output.write_text("")
        after = _run_step(action_venv, repo, PIPEFORM_COMMAND="plan", **github)
        assert after.returncode == 0 and "changes=false" in output.read_text(), after.stdout + after.stderr
    finally:
        forge.close()


def test_action_validate_annotates_a_bad_spec_and_fails(action_venv, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "bad.yaml").write_text(
        "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {flow: missing}\n"
    )
    done = _run_step(action_venv, repo, PIPEFORM_COMMAND="validate", GITHUB_ACTIONS="true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "::error file=bad.yaml,line=4," in done.stdout, done.stdout
    no_url = _run_step(action_venv, repo, PIPEFORM_COMMAND="plan")
    assert no_url.returncode == 1 and "needs the Prefect API URL" in no_url.stderr


@pytest.mark.slow
def test_gitlab_template_jobs_plan_with_one_mr_note(action_venv, prefect_api, tmp_path):
    template = yaml.safe_load((ROOT / "integrations" / "gitlab" / "pipeform.gitlab-ci.yml").read_text())
    base = template[".pipeform"]
    plan_job = template["pipeform-plan"]
    assert plan_job["extends"] == ".pipeform" and plan_job["rules"][0]["if"].endswith('"merge_request_event"')
    assert template["pipeform-apply"]["resource_group"] == "pipeform-apply"
    # pipeform's repository, as the template clones it (a real git remote: a bare repo here).
    source = tmp_path / "pipeform-src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".tools", "*.egg-info", "__pycache__"))
    bare = tmp_path / "pipeform.git"
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pipeform"],
        ["git", "tag", "v0.0.0-test"],
        ["git", "clone", "-q", "--bare", ".", str(bare)],
    ):
        subprocess.run(cmd, cwd=source, check=True, capture_output=True)
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    name = f"gl{uuid.uuid4().hex[:8]}"
    (project / "pipelines" / "p.yaml").write_text(SPEC.replace("NAME", name).replace("WHO", "a"))
    forge = ForgeAPI()
    variables = {**template["variables"], "PIPEFORM_PATH": "pipelines", "PIPEFORM_GIT_URL": f"file://{bare}"}
    variables["PIPEFORM_REF"] = "v0.0.0-test"
    env = clean_env(
        CI_PROJECT_DIR=str(project),
        CI_API_V4_URL=forge.url,
        CI_PROJECT_ID="acme/pipelines",
        CI_MERGE_REQUEST_IID="3",
        PIPEFORM_GITLAB_TOKEN="glpat-test",
        PREFECT_API_URL=prefect_api,
    )
    for key, value in variables.items():  # GitLab expands $CI_PROJECT_DIR in variables
        env[key] = value.replace("$CI_PROJECT_DIR", str(project))
    env["PIPEFORM_VENV"] = str(action_venv)  # the install step's cache, as GitLab's `cache:` restores it
    script = "set -euo pipefail\n" + "\n".join(base["before_script"] + plan_job["script"])
    try:
        for _ in range(2):  # two pushes to the merge request: one note, edited
            done = subprocess.run(
                ["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, done.stdout + done.stderr
        assert [r["method"] for r in forge.requests if r["method"] != "GET"] == ["POST", "PUT"]
        post = next(r for r in forge.requests if r["method"] == "POST")
        assert post["path"] == "/projects/acme%2Fpipelines/merge_requests/3/notes"
        assert post["headers"]["private-token"] == "glpat-test"
        [note] = forge.comments.values()
        assert MARKER in note["body"] and f"`deployment.{name}-flow/nightly`" in note["body"]
        assert (project / ".pipeform-out" / "plan.md").read_text() in note["body"]
    finally:
        forge.close()
