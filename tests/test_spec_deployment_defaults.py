"""Project-wide deployment defaults: merged under each Deployment (maps deep, lists
replaced, source/pull one choice), checked like the Deployment's own values, and shown
merged in the plan (read back from the plan's desired body on the real server)."""

import pytest
from server_helpers import plan_specs, project_dir

from pipeform.spec import load_project

PROJECT = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: NAME}
spec:
  defaults:
    deployment:
      work_pool:
        name: k8s
        queue: batch
        job_variables: {namespace: data, env: {TEAM: data, LEVEL: info}}
      tags: [team-data]
      pull:
        - prefect.deployments.steps.set_working_directory: {directory: /opt/app}
      environment: base
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: base}
spec: {image: acme/base:1}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: plain}
spec:
  entrypoint: flows/f.py:job
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: own}
spec:
  entrypoint: flows/f.py:job
  work_pool:
    name: k8s
    job_variables: {env: {LEVEL: debug}}
  tags: [urgent]
  source: {directory: {path: /srv/other}}
"""


def _project(tmp_path, text=PROJECT):
    folder, name = project_dir(tmp_path, "", prefix="defaults")
    (folder / "project.yaml").write_text(text.replace("NAME", name))
    (folder / "flows").mkdir()
    (folder / "flows" / "f.py").write_text("from prefect import flow\n\n@flow\ndef job(n: int = 1):\n    return n\n")
    return folder


def test_defaults_merge_under_each_deployment(tmp_path):
    project, diags = load_project([_project(tmp_path)])
    assert project is not None, [str(d) for d in diags]
    plain, own = project.deployments["plain"].spec, project.deployments["own"].spec
    assert plain.work_pool.model_dump() == {
        "name": "k8s",
        "queue": "batch",
        "job_variables": {"namespace": "data", "env": {"TEAM": "data", "LEVEL": "info"}},
    }
    assert plain.tags == ["team-data"] and plain.environment == "base"
    assert plain.pull == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/app"}}]
    # maps deep: the deployment's LEVEL wins, TEAM and namespace come from the defaults
    assert own.work_pool.job_variables == {"namespace": "data", "env": {"TEAM": "data", "LEVEL": "debug"}}
    assert own.work_pool.queue == "batch"
    assert own.tags == ["urgent"]  # lists replaced
    assert own.pull is None and own.source.directory.path == "/srv/other"  # its own source: no default pull


def test_defaults_are_checked_like_the_deployments_own(tmp_path):
    project, diags = load_project([_project(tmp_path, PROJECT.replace("environment: base", "environment: missing"))])
    assert project is None
    assert [d.code for d in diags if d.severity == "error"] == ["ref.unknown-environment"] * 2


@pytest.mark.usefixtures("prefect_api")
def test_plan_shows_the_merged_values(tmp_path):
    plan = plan_specs(_project(tmp_path))
    bodies = {c.address: c.after for c in plan.changes if c.kind == "deployment"}
    plain = bodies["deployment.job/plain"]
    assert plain["work_pool_name"] == "k8s" and plain["work_queue_name"] == "batch"
    assert plain["job_variables"]["env"] == {"TEAM": "data", "LEVEL": "info"}
    assert "team-data" in plain["tags"]
    assert plain["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/app"}}]
    assert bodies["deployment.job/own"]["job_variables"]["env"]["LEVEL"] == "debug"
