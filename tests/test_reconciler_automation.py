"""Automations against the session's real Prefect server (no mocks): create with the
deployment id resolved, empty second plan, in-place update, prune of the owned one only."""

from __future__ import annotations

import pytest
from server_helpers import FLOW_AND_POOL, apply_specs, plan_specs, project_dir, server

from pipeform.reconciler.plan import Action
from pipeform.spec import load_project_or_raise

pytestmark = pytest.mark.usefixtures("prefect_api")

BASE = (
    FLOW_AND_POOL
    + """\
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: main}
spec: {flow: NAME-flow, work_pool: {name: NAME-pool}}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: cleanup}
spec: {flow: NAME-flow, work_pool: {name: NAME-pool}}
"""
)


def automation(threshold: int = 1) -> str:
    return f"""\
---
apiVersion: pipeform/v1
kind: Automation
metadata: {{name: NAME-on-failure}}
spec:
  description: Clean up after failures.
  trigger:
    expect: [prefect.flow-run.Failed]
    match_related: {{prefect.resource.role: deployment, prefect.resource.name: main}}
    threshold: {threshold}
    within: 60
  actions:
    - type: run-deployment
      deployment: cleanup
      parameters: {{}}
    - type: pause-deployment
      deployment: NAME-flow/main
    - type: change-flow-run-state
      state: CANCELLED
      message: stopped by pipeform
"""


def automations_named(name: str) -> list[dict]:
    return server("POST", "/automations/filter", {"automations": {"name": {"any_": [name]}}})


def test_apply_update_in_place_and_prune_only_the_owned_one(tmp_path):
    d, name = project_dir(tmp_path, BASE + automation())
    plan, outcomes = apply_specs(d)[:2]
    assert all(o.ok for o in outcomes), outcomes
    assert plan.pending[-1].address == f"automation.{name}-on-failure"  # after the deployments it references
    [auto] = automations_named(f"{name}-on-failure")
    cleanup = server("GET", f"/deployments/name/{name}-flow/cleanup")
    main = server("GET", f"/deployments/name/{name}-flow/main")
    assert [a.get("deployment_id") for a in auto["actions"]] == [cleanup["id"], main["id"], None]
    assert auto["trigger"]["threshold"] == 1 and auto["trigger"]["within"] == 60
    assert f"pipeform:{name}" in auto["tags"]

    again = plan_specs(d)
    assert again.pending == () and not again.errors  # normalization complete: nothing to change

    # a threshold change is an in-place update: same automation id
    (d / "project.yaml").write_text((d / "project.yaml").read_text().replace("threshold: 1", "threshold: 3"))
    plan = plan_specs(d)
    [change] = plan.pending
    assert change.action is Action.UPDATE and [f.path for f in change.diffs] == ["trigger.threshold"]
    _, outcomes = apply_specs(d)[:2]
    assert all(o.ok for o in outcomes)
    [after] = automations_named(f"{name}-on-failure")
    assert after["id"] == auto["id"] and after["trigger"]["threshold"] == 3
    assert plan_specs(d).pending == ()

    # a hand-made automation with the same name: left alone by plan and by prune
    hand = server(
        "POST",
        "/automations/",
        {
            "name": f"{name}-on-failure",
            "trigger": {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Crashed"]},
            "actions": [{"type": "cancel-flow-run"}],
        },
    )
    assert plan_specs(d).pending == ()
    (d / "project.yaml").write_text(
        (d / "project.yaml").read_text().split("---\napiVersion: pipeform/v1\nkind: Automation")[0]
    )
    plan, outcomes = apply_specs(d, prune=True)[:2]
    assert [(c.address, c.action) for c in plan.pending] == [(f"automation.{name}-on-failure", Action.DELETE)]
    assert all(o.ok for o in outcomes)
    assert [a["id"] for a in automations_named(f"{name}-on-failure")] == [hand["id"]]
    server("DELETE", f"/automations/{hand['id']}")


def test_foreign_same_name_is_refused_and_two_owned_ones_are_an_error(tmp_path):
    d, name = project_dir(tmp_path, BASE + automation())
    body = {
        "name": f"{name}-on-failure",
        "trigger": {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Crashed"]},
        "actions": [{"type": "cancel-flow-run"}],
    }
    foreign = server("POST", "/automations/", body)
    plan = plan_specs(d)
    assert any("was not created by pipeform" in e for e in plan.errors)
    server("DELETE", f"/automations/{foreign['id']}")

    _, outcomes = apply_specs(d)[:2]
    assert all(o.ok for o in outcomes)
    twin = server("POST", "/automations/", {**body, "tags": [f"pipeform:{name}"]})
    plan = plan_specs(d)
    assert any("2 automations named" in e for e in plan.errors)
    server("DELETE", f"/automations/{twin['id']}")
    assert plan_specs(d).pending == ()

    # pipeform's automation deleted by hand and a same-name one made by hand: ours is created again
    [ours] = automations_named(f"{name}-on-failure")
    server("DELETE", f"/automations/{ours['id']}")
    hand = server("POST", "/automations/", body)
    [change] = plan_specs(d).pending
    assert change.action is Action.CREATE
    _, outcomes = apply_specs(d)[:2]
    assert all(o.ok for o in outcomes)
    found = {a["id"]: a for a in automations_named(f"{name}-on-failure")}
    assert len(found) == 2 and found[hand["id"]]["tags"] == []
    assert plan_specs(d).pending == ()
    server("DELETE", f"/automations/{hand['id']}")


def test_import_writes_an_automation_spec_that_loads(tmp_path, cli):
    d, name = project_dir(tmp_path, BASE + automation(threshold=2))
    _, outcomes = apply_specs(d)[:2]
    assert all(o.ok for o in outcomes)
    out = tmp_path / "imported"
    result = cli("import", out, "--kind", "Automation", "--name", f"{name}-on-failure")
    assert result.exit_code == 0, result.output
    text = (out / "automations.yaml").read_text()
    assert "deployment: " + f"{name}-flow/cleanup" in text and "pipeform:" not in text
    specs = (d / "project.yaml").read_text()
    (d / "project.yaml").write_text(specs.split("---\napiVersion: pipeform/v1\nkind: Automation")[0])
    (d / "imported.yaml").write_text(text)
    project = load_project_or_raise([d])
    spec = project.automations[f"{name}-on-failure"].spec
    assert spec.trigger.threshold == 2 and spec.trigger.within == 60
    assert [a.type for a in spec.actions] == ["run-deployment", "pause-deployment", "change-flow-run-state"]
    assert plan_specs(d).pending == ()  # the imported spec describes the server's automation exactly
