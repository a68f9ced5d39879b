"""Deployment `triggers` on the session's real Prefect server (no mocks): each is an
automation owned by its deployment (as prefect deploy makes it) whose action runs that
deployment; a matching event creates a flow run with the trigger's parameters; no-op plans
are empty, a change is an in-place update, a removed trigger and a pruned deployment take
their automations with them, and automations pipeform did not make are left alone."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform.reconciler.plan import Action

pytestmark = pytest.mark.usefixtures("prefect_api")

FLOW = '''\
from prefect import flow


@flow
def on_data(n: int = 0, source: str = "none"):
    """Reacts to data."""
    return n
'''

SPECS = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-pool}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: NAME Reacts}
spec:
  entrypoint: flows.py:on_data
  work_pool: {name: NAME-pool}
  triggers:
    - match: {prefect.resource.id: "NAME.dataset.*"}
      expect: [NAME.data.arrived]
      parameters: {n: 7, source: "{{ event.resource.id }}"}
    - name: NAME both
      description: two events within a minute
      enabled: false
      require: all
      within: 60
      triggers:
        - {expect: [NAME.a]}
        - {expect: [NAME.b], threshold: 2, within: 30}
      job_variables: {env: {X: "1"}}
      schedule_after: 30
"""


def _automations(names: list[str]) -> dict[str, dict]:
    found = server("POST", "/automations/filter", {"automations": {"name": {"any_": names}}})
    return {a["name"]: a for a in found}


def _wait_for_run(dep_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = server("POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep_id]}}})
        if runs:
            return runs[0]
        time.sleep(0.25)
    raise AssertionError("the trigger created no flow run")


def test_triggers_are_owned_automations_that_run_their_deployment(tmp_path):
    d, name = project_dir(tmp_path, SPECS)
    (d / "flows.py").write_text(FLOW)
    plan, outcomes = apply_specs(d)[:2]
    assert all(o.ok for o in outcomes), outcomes
    dep_name = f"{name} Reacts"
    first, both = f"{dep_name}__automation_1", f"{name} both"  # Prefect's default name, and a given one
    assert {c.address for c in plan.pending if c.kind == "trigger"} == {
        f"trigger.on-data/{dep_name}/{first}",
        f"trigger.on-data/{dep_name}/{both}",
    }
    dep = server("GET", f"/deployments/name/on-data/{dep_name}")
    autos = _automations([first, both])
    a = autos[first]
    assert a["trigger"]["type"] == "event" and a["trigger"]["expect"] == [f"{name}.data.arrived"]
    assert a["actions"] == [
        {
            "type": "run-deployment",
            "source": "selected",
            "deployment_id": dep["id"],
            "parameters": {"n": 7, "source": "{{ event.resource.id }}"},
            "job_variables": None,
            "schedule_after": 0.0,
        }
    ]
    assert a["enabled"] is True and a["tags"] == [f"pipeform:{name}"]
    b = autos[both]
    assert b["enabled"] is False and b["description"] == "two events within a minute"
    assert b["trigger"]["type"] == "compound" and b["trigger"]["require"] == "all" and b["trigger"]["within"] == 60
    assert [t["expect"] for t in b["trigger"]["triggers"]] == [[f"{name}.a"], [f"{name}.b"]]
    assert b["trigger"]["triggers"][1]["threshold"] == 2 and b["trigger"]["triggers"][1]["within"] == 30
    assert b["actions"][0]["job_variables"] == {"env": {"X": "1"}} and b["actions"][0]["schedule_after"] == 30
    related = {x["id"] for x in server("GET", f"/automations/related-to/prefect.deployment.{dep['id']}")}
    assert {a["id"], b["id"]} <= related

    assert plan_specs(d).pending == ()  # normalization complete: a no-op writes nothing

    # a matching event: the server's trigger service runs the deployment with the parameters
    event = {
        "id": str(uuid.uuid4()),
        "occurred": dt.datetime.now(dt.UTC).isoformat(),
        "event": f"{name}.data.arrived",
        "resource": {"prefect.resource.id": f"{name}.dataset.orders"},
    }
    server("POST", "/events", [event])
    run = _wait_for_run(dep["id"])
    assert run["parameters"] == {"n": 7, "source": f"{name}.dataset.orders"}

    # a change is an in-place update of that automation only (the deployment is not rewritten)
    text = (d / "project.yaml").read_text()
    (d / "project.yaml").write_text(text.replace("n: 7", "n: 8"))
    plan = plan_specs(d)
    [change] = plan.pending
    assert change.kind == "trigger" and change.action is Action.UPDATE
    assert [f.path for f in change.diffs] == ["actions"]
    assert all(o.ok for o in apply_specs(d)[1])
    after = _automations([first])[first]
    assert after["id"] == a["id"] and after["actions"][0]["parameters"]["n"] == 8
    assert plan_specs(d).pending == ()

    # a hand-made automation running the same deployment is never touched
    hand = server(
        "POST",
        "/automations/",
        {
            "name": f"{name} by hand",
            "trigger": {"type": "event", "posture": "Reactive", "expect": [f"{name}.x"]},
            "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": dep["id"]}],
        },
    )

    # removing a trigger deletes its automation (prune or not: the list is the whole list)
    (d / "project.yaml").write_text(
        text.replace("n: 7", "n: 8").split("    - name: NAME both".replace("NAME", name))[0]
    )
    plan = plan_specs(d)
    assert [(c.address, c.action) for c in plan.pending] == [(f"trigger.on-data/{dep_name}/{both}", Action.DELETE)]
    assert all(o.ok for o in apply_specs(d)[1])
    assert set(_automations([first, both])) == {first}

    # ownership is Prefect's: deleting what the deployment owns (as prefect deploy does before
    # it recreates its triggers) deletes pipeform's automation, and the next plan creates it again
    server("DELETE", f"/automations/owned-by/prefect.deployment.{dep['id']}")
    assert set(_automations([first])) == set()
    [change] = plan_specs(d).pending
    assert change.action is Action.CREATE and change.kind == "trigger"
    assert all(o.ok for o in apply_specs(d)[1])

    # pruning the deployment deletes its trigger's automation first; the hand-made one stays
    pool_only = (d / "project.yaml").read_text().split("---\napiVersion: pipeform/v1\nkind: Deployment")[0]
    (d / "project.yaml").write_text(pool_only)
    plan = plan_specs(d, prune=True)
    deletes = [c.address for c in plan.pending if c.action is Action.DELETE]
    assert deletes == [f"trigger.on-data/{dep_name}/{first}", f"deployment.on-data/{dep_name}"]
    assert all(o.ok for o in apply_specs(d, prune=True)[1])
    assert set(_automations([first, f"{name} by hand"])) == {f"{name} by hand"}
    server("DELETE", f"/automations/{hand['id']}")


def test_metric_and_clashing_trigger_names_are_located_errors(tmp_path, cli):
    body = """\
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: dep}
spec:
  entrypoint: flows.py:on_data
  triggers:
    - posture: Metric
      metric: {name: duration, threshold: 10, operator: ">"}
    - {name: same, expect: [a]}
    - {name: same, expect: [b]}
    - {name: alert, expect: [c]}
    - type: compound
      require: 1
      triggers: [{expect: [d]}, {type: metric, metric: {name: lateness, threshold: 1, operator: ">"}}]
---
apiVersion: pipeform/v1
kind: Automation
metadata: {name: alert}
spec:
  trigger: {expect: [x]}
  actions: [{type: do-nothing}]
"""
    d, _ = project_dir(tmp_path, body)
    (d / "flows.py").write_text(FLOW)
    result = cli("validate", str(d))
    assert result.exit_code == 1
    lines = {ln for ln in result.output.splitlines() if "project.yaml:" in ln}
    text = "\n".join(lines)
    assert "project.yaml:12:7" in text and "Prefect Cloud only" in text  # the metric trigger, at its line
    assert "project.yaml:19:33" in text  # the nested one, at its own position
    assert "two triggers of this deployment make automation 'same'" in text
    assert "trigger automation 'alert' has the name of an Automation document" in text
