"""Names Prefect accepts (spaces, capitals) round-trip through apply, plan, import and
prune on the real server, with quoted addresses in plans and --target."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from server_helpers import project_dir, server

pytestmark = pytest.mark.usefixtures("prefect_api")

SPECS = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: "Pool NAME"}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: "Hello World - Helm"}
spec:
  entrypoint: flows/hello.py:hello_world_entry
  work_pool: {name: "Pool NAME"}
  description: DESCRIPTION
  schedules:
    - {slug: "Every Hour", interval: 3600}
---
apiVersion: pipeform/v1
kind: Automation
metadata: {name: "Rerun Hello NAME!"}
spec:
  trigger: {expect: [prefect.flow-run.Failed]}
  actions: [{type: run-deployment, deployment: "Hello World - Helm"}]
"""


def pipeform(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeform", *map(str, args)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_names_with_spaces_round_trip(tmp_path):
    folder, name = project_dir(tmp_path, SPECS.replace("DESCRIPTION", "first"), prefix="names")
    flow = f"Hello World {name}"
    (folder / "flows").mkdir()
    (folder / "flows" / "hello.py").write_text(
        f"from prefect import flow\n\n@flow(name={flow!r})\ndef hello_world_entry(who: str = 'x'):\n    return who\n"
    )
    address = f'deployment."{flow}/Hello World - Helm"'
    planned = pipeform("plan", folder)
    assert planned.returncode == 0, planned.stderr
    assert address in planned.stdout and f'schedule."{flow}/Hello World - Helm/Every Hour"' in planned.stdout

    applied = pipeform("apply", folder, "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    dep = server("GET", f"/deployments/name/{flow}/Hello World - Helm")
    assert dep["work_pool_name"] == f"Pool {name}" and [s["slug"] for s in dep["schedules"]] == ["Every Hour"]
    autos = server("POST", "/automations/filter", {})
    auto = next(a for a in autos if a["name"] == f"Rerun Hello {name}!")
    assert auto["actions"][0]["deployment_id"] == dep["id"]
    again = pipeform("plan", folder, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    # A change, targeted by the quoted address (as plans print it): only that deployment.
    (folder / "project.yaml").write_text((folder / "project.yaml").read_text().replace("first", "second"))
    targeted = pipeform("plan", folder, "--target", address)
    assert targeted.returncode == 0 and address in targeted.stdout and "automation." not in targeted.stdout
    assert "~ " + address in targeted.stdout, targeted.stdout
    assert pipeform("apply", folder, "--auto-approve", "--target", address).returncode == 0
    assert server("GET", f"/deployments/{dep['id']}")["description"] == "second"

    # import writes every one of them under its own name.
    out = tmp_path / "imported"
    imported = pipeform("import", out)
    assert imported.returncode == 0, imported.stderr
    docs = [d for f in sorted(out.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("WorkPool", f"Pool {name}"),
        ("Deployment", "Hello World - Helm"),
        ("Automation", f"Rerun Hello {name}!"),
    } <= names
    # The session server may hold another "Hello World - Helm" (of another flow): find ours by its flow.
    imported_dep = next(
        (d for d in docs if d["metadata"]["name"] == "Hello World - Helm" and d["spec"].get("flow_name") == flow), None
    )
    assert imported_dep is not None, [d["spec"] for d in docs if d["metadata"]["name"] == "Hello World - Helm"]
    assert "Deployment 'Hello World - Helm'" not in imported.stderr

    # prune: the deployment (and the automation that needs it) leave the specs.
    (folder / "project.yaml").write_text(
        (folder / "project.yaml").read_text().split("---\napiVersion: pipeform/v1\nkind: Deployment")[0]
    )
    pruned = pipeform("apply", folder, "--auto-approve", "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert f"- {address}" in pruned.stdout
    left = server("POST", "/deployments/filter", {"flows": {"name": {"any_": [flow]}}})
    assert left == []
    assert pipeform("plan", folder, "--detailed-exitcode").returncode == 0
