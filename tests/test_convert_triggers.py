"""Deployment triggers (and an assigned flow's name, parameters and description) through `prefect deploy --all` and through `pipeform convert` +
`pipeform apply`, on the real server: both store the same automations (name, description,
enabled, trigger, the run-deployment action of their deployment), both owned by the
deployment; adoption (prefect deploy, then convert + apply --adopt) updates Prefect's
automations in place (same ids) and the next plan is empty."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from server_helpers import server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

# A flow made by assignment (`x = flow(fn)`): its name, parameters and description (the
# wrapped function's docstring, prefect deploy's default description) read statically.
FLOW = '''\
from prefect import flow


def load(n: int = 0, source: str = "none"):
    """Loads the new files into the warehouse.

    Runs when files arrive."""
    return n


ingest = flow(load, name="ingest")
'''

PREFECT_YAML = """\
name: triggers
prefect-version: 3.8.8
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: /opt/app
deployments:
  - name: NAME-ingest
    entrypoint: flows.py:ingest
    work_pool: {name: NAME-pool}
    triggers:
      - match: {prefect.resource.id: "bucket.NAME.*"}
        expect: [file.created]
        parameters: {n: 1, source: "{{ event.resource.id }}"}
      - name: NAME both
        description: a then b
        enabled: false
        require: all
        within: 120
        triggers:
          - {type: event, expect: [NAME.a]}
          - {type: event, expect: [NAME.b], threshold: 2, within: 30}
        job_variables: {env: {MODE: fast}}
        schedule_after: 60
      - type: sequence
        within: 300
        triggers:
          - {expect: [NAME.first]}
          - {expect: [NAME.second], posture: Reactive}
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PWD": str(cwd), "PREFECT_CLI_PROMPT": "false"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def _ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _snapshot(dep_id: str) -> dict[str, dict[str, Any]]:
    """The deployment's automations by name, as the server stores them (ids aside)."""
    out = {}
    for a in server("GET", f"/automations/related-to/prefect.deployment.{dep_id}"):
        out[a["name"]] = {
            "id": a["id"],
            "description": a["description"],
            "enabled": a["enabled"],
            "tags": [t for t in a["tags"] if not t.startswith("pipeform:")],
            "trigger": _without_ids(a["trigger"]),
            "actions": a["actions"],
            "more": (a["actions_on_trigger"], a["actions_on_resolve"]),
        }
    return out


def _same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for name in a:
        assert {**a[name], "id": None} == {**b[name], "id": None}, name


def _folder(tmp_path: Path) -> tuple[Path, str]:
    name = f"trg{uuid.uuid4().hex[:8]}"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "prefect.yaml").write_text(PREFECT_YAML.replace("NAME", name))
    (folder / "flows.py").write_text(FLOW)
    server("POST", "/work_pools/", {"name": f"{name}-pool", "type": "process"})
    return folder, name


def _deployment(name: str) -> dict[str, Any]:
    dep = server("GET", f"/deployments/name/ingest/{name}-ingest")
    return {k: dep[k] for k in ("id", "entrypoint", "description", "parameter_openapi_schema")}


def _owned_deleted(dep_id: str) -> None:
    server("DELETE", f"/automations/owned-by/prefect.deployment.{dep_id}")


def test_triggers_as_prefect_deploy_makes_them_and_adoption(tmp_path):
    folder, name = _folder(tmp_path)
    _ok(_run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], folder))
    dep = _deployment(name)
    assert dep["description"] == "Loads the new files into the warehouse.\n\nRuns when files arrive."
    assert set(dep["parameter_openapi_schema"]["properties"]) == {"n", "source"}
    by_prefect = _snapshot(dep["id"])
    assert set(by_prefect) == {f"{name}-ingest__automation_1", f"{name} both", f"{name}-ingest__automation_3"}

    # adoption: pipeform takes over Prefect's automations in place (same ids)
    pipeform = [sys.executable, "-m", "pipeform"]
    _ok(_run([*pipeform, "convert", "prefect.yaml", "--out", ".", "--project", name], folder))
    assert not (folder / "automations.yaml").exists()  # the triggers stay on the Deployment
    _ok(_run([*pipeform, "apply", ".", "--auto-approve", "--adopt"], folder))
    adopted = _snapshot(dep["id"])
    _same(by_prefect, adopted)
    assert {n: a["id"] for n, a in adopted.items()} == {n: a["id"] for n, a in by_prefect.items()}
    _ok(_run([*pipeform, "plan", ".", "--detailed-exitcode"], folder))

    # fresh: what pipeform creates is what prefect deploy creates, owned by the deployment
    server("DELETE", f"/deployments/{dep['id']}")
    _owned_deleted(dep["id"])
    assert _snapshot(dep["id"]) == {}
    _ok(_run([*pipeform, "apply", ".", "--auto-approve"], folder))
    made = _deployment(name)
    assert {**made, "id": None} == {**dep, "id": None}  # entrypoint, description, parameter schema
    dep = made
    by_pipeform = _snapshot(dep["id"])
    for a in by_prefect.values():  # the action names the deployment by id: the new one
        for action in a["actions"]:
            action["deployment_id"] = dep["id"]
    _same(by_prefect, by_pipeform)
    _ok(_run([*pipeform, "plan", ".", "--detailed-exitcode"], folder))
    _owned_deleted(dep["id"])  # they are the deployment's: Prefect's own cleanup removes them
    assert _snapshot(dep["id"]) == {}
    server("DELETE", f"/deployments/{dep['id']}")


def _imported(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict[str, Any]]]:
    import yaml

    out = folder / f"imported{uuid.uuid4().hex[:6]}"
    done = _run([sys.executable, "-m", "pipeform", "import", str(out), *args], folder)
    docs = [d for f in sorted(out.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    return done, docs


def test_import_writes_prefect_deploy_triggers_back_under_the_deployment(tmp_path):
    """prefect deploy --all, then `pipeform import`: the deployment's trigger automations are
    its `triggers` (not Automation documents), in prefect.yaml's form and order; applying the
    import adopts them in place (same ids) and the next plan is empty. An automation that
    runs the deployment but is not a trigger's shape (here: tagged) stays an Automation."""
    import yaml

    folder, name = _folder(tmp_path)
    _ok(_run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], folder))
    dep = _deployment(name)
    by_prefect = _snapshot(dep["id"])
    hand = server(
        "POST",
        "/automations/",
        {
            "name": f"{name} by hand",
            "tags": ["team"],
            "trigger": {"type": "event", "posture": "Reactive", "expect": [f"{name}.x"]},
            "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": dep["id"]}],
        },
    )

    done, docs = _imported(folder, "--name", f"{name}-ingest")
    _ok(done)
    [doc] = docs
    assert doc["kind"] == "Deployment" and doc["metadata"]["name"] == f"{name}-ingest"
    assert doc["spec"]["triggers"] == [
        {  # Prefect's default name for the first trigger: left out, as in prefect.yaml
            "parameters": {"n": 1, "source": "{{ event.resource.id }}"},
            "match": {"prefect.resource.id": f"bucket.{name}.*"},
            "expect": ["file.created"],
            "posture": "Reactive",
        },
        {
            "name": f"{name} both",
            "description": "a then b",
            "job_variables": {"env": {"MODE": "fast"}},
            "schedule_after": 60.0,
            "enabled": False,
            "type": "compound",
            "require": "all",
            "within": 120.0,
            "triggers": [
                {"expect": [f"{name}.a"], "posture": "Reactive"},
                {"expect": [f"{name}.b"], "posture": "Reactive", "threshold": 2, "within": 30.0},
            ],
        },
        {
            "type": "sequence",
            "within": 300.0,
            "triggers": [
                {"expect": [f"{name}.first"], "posture": "Reactive"},
                {"expect": [f"{name}.second"], "posture": "Reactive"},
            ],
        },
    ]
    # the trigger automations are not also Automation documents; the tagged one is
    done, autos = _imported(folder, "--kind", "Automation", "--name", f"{name}-ingest__automation_1")
    assert done.returncode == 1 and autos == []
    assert f"a trigger of Deployment 'ingest/{name}-ingest', written under its `triggers`" in done.stderr
    done, autos = _imported(folder, "--kind", "Automation", "--name", f"{name} by hand")
    _ok(done)
    assert [(a["kind"], a["spec"]["tags"]) for a in autos] == [("Automation", ["team"])]

    # apply the import: Prefect's automations adopted in place, then nothing to do
    project = tmp_path / "adopted"
    project.mkdir()
    (project / "flows.py").write_text(FLOW)
    (project / "specs.yaml").write_text(
        f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n---\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    pipeform = [sys.executable, "-m", "pipeform"]
    _ok(_run([*pipeform, "apply", ".", "--auto-approve", "--adopt"], project))
    adopted = _snapshot(dep["id"])
    assert {n: a["id"] for n, a in adopted.items()} == {
        **{n: a["id"] for n, a in by_prefect.items()},
        f"{name} by hand": hand["id"],
    }
    del adopted[f"{name} by hand"]
    _same(by_prefect, adopted)
    _ok(_run([*pipeform, "plan", ".", "--detailed-exitcode"], project))
    assert server("GET", f"/automations/{hand['id']}")["tags"] == ["team"]  # never touched
    server("DELETE", f"/automations/{hand['id']}")
    _owned_deleted(dep["id"])
    server("DELETE", f"/deployments/{dep['id']}")


def test_an_owned_automation_the_spec_does_not_name_is_left_alone(tmp_path):
    """The documented difference from prefect deploy: a trigger removed from prefect.yaml
    after `prefect deploy` leaves an automation the deployment owns; Prefect's redeploy would
    delete it, pipeform (which cannot read ownership back) leaves it, even with --prune, and
    plans nothing for it."""
    folder, name = _folder(tmp_path)
    _ok(_run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], folder))
    dep = _deployment(name)
    before = _snapshot(dep["id"])
    leftover = f"{name}-ingest__automation_3"
    text = (folder / "prefect.yaml").read_text()
    (folder / "prefect.yaml").write_text(text.split("      - type: sequence")[0])  # the third trigger removed
    pipeform = [sys.executable, "-m", "pipeform"]
    _ok(_run([*pipeform, "convert", "prefect.yaml", "--out", ".", "--project", name], folder))
    _ok(_run([*pipeform, "apply", ".", "--auto-approve", "--adopt", "--prune"], folder))
    after = _snapshot(dep["id"])
    assert set(after) == set(before) and after[leftover] == before[leftover]  # same id, untouched
    planned = _run([*pipeform, "plan", ".", "--prune", "--detailed-exitcode"], folder)
    _ok(planned)
    assert leftover not in planned.stdout
    _owned_deleted(dep["id"])  # Prefect's own cleanup still knows it is the deployment's
    assert _snapshot(dep["id"]) == {}
    server("DELETE", f"/deployments/{dep['id']}")
