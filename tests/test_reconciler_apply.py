"""plan/apply/prune/lock against the session's real Prefect server (no mocks)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.engine import apply_project
from pipeform.reconciler.plan import Action
from pipeform.spec import load_project_or_raise

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("prefect_api")


FLOW = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-flow}
spec:
  parameters:
    n: {type: integer, default: 1}
  tasks:
    - {name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: "$[ params.n ]"}}
"""


def deployment(name: str, schedules: str = "", extra: str = "") -> str:
    return f"""\
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  flow: NAME-flow
  work_pool: {{name: NAME-pool}}
  parameters: {{n: 2}}
{extra}  schedules:
{schedules or "    []"}
"""


POOL = "---\napiVersion: pipeform/v1\nkind: WorkPool\nmetadata: {name: NAME-pool}\nspec: {type: process}\n"


def deployment_by_name(flow: str, dep: str) -> dict:
    return server("GET", f"/deployments/name/{flow}/{dep}")


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir()))
def test_every_example_applies_then_plans_empty(example):
    path = ROOT / "examples" / example
    os.environ.setdefault("PIPEFORM_EXAMPLE_SECRET", "example-secret")
    plan, outcomes, _ = apply_specs(path)
    assert plan.errors == ()
    assert outcomes and all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    again = plan_specs(path)
    assert again.pending == (), [(c.address, c.diffs) for c in again.pending]


def test_noop_apply_writes_nothing_and_keeps_scheduled_runs(tmp_path):
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("d", "    - {slug: every-hour, interval: 3600}\n"))
    apply_specs(path)
    dep = deployment_by_name(f"{name}-flow", "d")
    deadline = time.monotonic() + 30
    runs: list = []
    while time.monotonic() < deadline and not runs:  # guards the SQLAlchemy pin: the scheduler must work
        runs = server("POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}})
        time.sleep(1)
    assert runs, "the scheduler created no runs"
    before = sorted(r["id"] for r in runs)
    plan, outcomes, counters = apply_specs(path)
    assert plan.pending == () and outcomes == ()
    assert counters.writes == 0
    after = sorted(
        r["id"] for r in server("POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}})
    )
    assert before == after


def test_schedule_change_in_place_keeps_id_and_pause(tmp_path):
    schedules = "    - {slug: a, cron: '0 3 * * *', active: false}\n    - {slug: b, interval: 7200}\n"
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("d", schedules))
    apply_specs(path)
    before = {s["slug"]: s for s in deployment_by_name(f"{name}-flow", "d")["schedules"]}
    (path / "project.yaml").write_text((path / "project.yaml").read_text().replace("0 3 * * *", "0 4 * * *"))
    plan, outcomes, counters = apply_specs(path)
    assert [c.address for c in plan.pending] == [f"schedule.{name}-flow/d/a"]
    assert all(o.ok for o in outcomes)
    after = {s["slug"]: s for s in deployment_by_name(f"{name}-flow", "d")["schedules"]}
    assert after["a"]["id"] == before["a"]["id"] and after["a"]["schedule"]["cron"] == "0 4 * * *"
    assert after["a"]["active"] is False
    assert after["b"] == before["b"]
    assert not any(w.startswith("PATCH /deployments/") and "schedules" not in w for w in counters.writes_by_path)


def test_prune_deletes_owned_only_and_refuses_empty(tmp_path):
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("keep") + deployment("drop"))
    apply_specs(path)
    flow = server("POST", "/flows/", {"name": f"{name}-flow"})
    server("POST", "/deployments/", {"name": "by-hand", "flow_id": flow["id"]})
    text = (path / "project.yaml").read_text()
    (path / "project.yaml").write_text(
        text[: text.index("---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: drop}")]
    )
    plan = plan_specs(path)
    assert plan.pending == ()  # without --prune nothing is deleted
    plan, outcomes, _ = apply_specs(path, prune=True)
    assert [(c.action, c.address) for c in plan.pending] == [(Action.DELETE, f"deployment.{name}-flow/drop")]
    names = {d["name"] for d in server("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-flow"]}}})}
    assert names == {"keep", "by-hand"}
    (path / "project.yaml").write_text(
        f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n"
    )
    plan, outcomes, _ = apply_specs(path, prune=True)
    assert outcomes is None and "refusing to prune all" in plan.errors[0]
    assert deployment_by_name(f"{name}-flow", "keep")


def test_existing_object_needs_adopt(tmp_path):
    path, name = project_dir(
        tmp_path, "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: NAME-var}\nspec: {value: 1}\n"
    )
    server("POST", "/variables/", {"name": f"{name}-var", "value": 0})
    plan, outcomes, _ = apply_specs(path)
    assert outcomes is None and "--adopt" in plan.errors[0]
    assert server("GET", f"/variables/name/{name}-var")["value"] == 0
    plan, outcomes, _ = apply_specs(path, adopt=True)
    assert all(o.ok for o in outcomes)
    assert server("GET", f"/variables/name/{name}-var")["value"] == 1
    assert plan_specs(path).pending == ()


SECRET_ENV = """\
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: runtime}
spec:
  env:
    TOKEN: {from_env: PIPEFORM_TEST_TOKEN}
    MODE: batch
"""


def test_secrets_never_printed_but_applied(tmp_path, cli, monkeypatch):
    secret = "s3cr3t-" + uuid.uuid4().hex
    monkeypatch.setenv("PIPEFORM_TEST_TOKEN", secret)
    path, name = project_dir(tmp_path, FLOW + POOL + SECRET_ENV + deployment("d", extra="  environment: runtime\n"))
    human = cli("plan", path)
    as_json = cli("plan", path, "--output", "json", "--out", tmp_path / "plan.json")
    applied = cli("apply", path, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    for out in (human.output, as_json.output, applied.output, (tmp_path / "plan.json").read_text()):
        assert secret not in out
    assert "(sensitive)" in human.output
    block = f"pipeform-{name}-pipeform-test-token"  # the secret is a Secret block the job variables reference
    assert deployment_by_name(f"{name}-flow", "d")["job_variables"]["env"]["TOKEN"] == (
        "{{ prefect.blocks.secret." + block + " }}"
    )
    stored = server("GET", f"/block_types/slug/secret/block_documents/name/{block}?include_secrets=true")
    assert stored["data"]["value"] == secret
    monkeypatch.setenv("PIPEFORM_TEST_TOKEN", secret + "-rotated")
    changed = cli("plan", path)
    assert f"block.secret/{block}" in changed.output and "data.value: (sensitive) changed" in changed.output
    assert secret not in changed.output


def test_plan_exit_codes_and_saved_plan(tmp_path, cli):
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("d"))
    assert cli("plan", path, "--detailed-exitcode").exit_code == 2
    saved = tmp_path / "plan.json"
    assert cli("plan", path, "--out", saved).exit_code == 0
    data = json.loads(saved.read_text())
    assert data["format_version"] == "1.0" and data["summary"]["create"] == 2
    server("POST", "/variables/", {"name": f"{name}-unrelated", "value": 1})  # unrelated: the plan still holds
    server("POST", "/work_pools/", {"name": f"{name}-pool", "type": "process"})  # the plan's object appears
    stale = cli("apply", saved, "--auto-approve")
    assert stale.exit_code == 1 and "changed since this plan was made" in stale.output
    server("DELETE", f"/work_pools/{name}-pool")
    applied = cli("apply", saved, "--auto-approve")  # the unrelated variable does not make it stale
    assert applied.exit_code == 0, applied.output
    assert cli("plan", path, "--detailed-exitcode").exit_code == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "f.yaml").write_text("apiVersion: pipeform/v1\nkind: Flw\n")
    assert cli("plan", bad, "--detailed-exitcode").exit_code == 1


def test_apply_without_terminal_asks_for_auto_approve(tmp_path, cli):
    path, _ = project_dir(tmp_path, POOL)
    result = cli("apply", path)
    assert result.exit_code == 1 and "--auto-approve" in result.output


def test_concurrent_applies_serialize(tmp_path):
    body = FLOW + POOL + "".join(deployment(f"d{i}") for i in range(6))
    path, name = project_dir(tmp_path, body)
    cmd = [sys.executable, "-m", "pipeform", "apply", str(path), "--auto-approve", "--lock-timeout", "120"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("Apply complete: 7 changed" in o for o in outs) == 1, outs
    assert sum("No changes" in o for o in outs) == 1, outs  # the second re-planned under the lock
    deps = server("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-flow"]}}})
    assert sorted(d["name"] for d in deps) == [f"d{i}" for i in range(6)]


def test_observe_reads_only_what_the_project_can_own(tmp_path):
    """observe filters by name on the server: look-alike objects nobody declared are never
    read, planned or touched, while an owned deployment that left the specs still shows up
    for prune and drift (it is in the inventory)."""
    from pipeform.reconciler.engine import drift
    from pipeform.reconciler.observe import observe

    other_flow = "---\n" + FLOW.replace("NAME-flow", "NAME-flow2")
    other_dep = deployment("other").replace("flow: NAME-flow", "flow: NAME-flow2")
    var = "---\napiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: NAME-var}\nspec: {value: 1}\n"
    path, name = project_dir(
        tmp_path, FLOW + other_flow + POOL + deployment("keep") + deployment("drop") + other_dep + var
    )
    apply_specs(path)
    # Look-alikes made by hand: same flow, a deployment name the project uses under another
    # flow (matches the server-side name filters of a chunk, not an address); similar names.
    flow = server("POST", "/flows/", {"name": f"{name}-flow"})
    lookalike = server("POST", "/deployments/", {"name": "other", "flow_id": flow["id"], "tags": ["hand"]})
    server("POST", "/deployments/", {"name": "keep-copy", "flow_id": flow["id"]})
    server("POST", "/variables/", {"name": f"{name}-var-copy", "value": 0})
    server("POST", "/variables/", {"name": f"{name}_var", "value": 0})
    text = (path / "project.yaml").read_text()
    start = text.index("---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: drop}")
    end = text.index("---", start + 3)
    (path / "project.yaml").write_text(text[:start] + text[end:])
    project = load_project_or_raise([path])

    async def observed():
        async with ServerAPI.from_env() as api:
            from pipeform.reconciler.desired import desired_state
            from pipeform.reconciler.inputs import gather_inputs

            state = await observe(
                api, project.name, project.env, [r.address for r in desired_state(gather_inputs(project))]
            )
            return {r.address for r in state.resources}, await drift(api, project)

    addresses, drifted = asyncio.run(observed())
    assert f"deployment.{name}-flow/drop" in addresses  # owned, left the specs: still read
    assert f"deployment.{name}-flow/other" not in addresses
    assert f"deployment.{name}-flow/keep-copy" not in addresses
    assert not {f"variable.{name}-var-copy", f"variable.{name}_var"} & addresses
    assert [(c.action, c.address) for c in drifted] == [(Action.DELETE, f"deployment.{name}-flow/drop")]
    assert plan_specs(path).pending == ()  # without --prune: nothing
    plan, outcomes, counters = apply_specs(path, prune=True)
    assert [(c.action, c.address) for c in plan.pending] == [(Action.DELETE, f"deployment.{name}-flow/drop")]
    assert all(o.ok for o in outcomes)
    assert not any(lookalike["id"] in w for w in counters.writes_by_path)
    names = {d["name"] for d in server("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-flow"]}}})}
    assert names == {"keep", "other", "keep-copy"}
    assert deployment_by_name(f"{name}-flow", "other")["tags"] == ["hand"]
    assert server("GET", f"/variables/name/{name}-var-copy")["value"] == 0
    assert server("GET", f"/variables/name/{name}_var")["value"] == 0


def test_change_between_plan_and_lock_is_seen_under_the_lock(tmp_path):
    """The plan is checked again under the lock (its objects and the inventory): an object
    changed meanwhile makes apply plan again instead of applying the stale plan."""
    from pipeform.reconciler.lock import acquire

    var = "---\napiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: NAME-var}\nspec: {value: VALUE}\n"
    path, name = project_dir(tmp_path, POOL + var.replace("VALUE", "1"))
    apply_specs(path)
    (path / "project.yaml").write_text((path / "project.yaml").read_text().replace("value: 1", "value: 2"))
    project = load_project_or_raise([path])

    async def go():
        async with ServerAPI.from_env() as holder, ServerAPI.from_env() as api:
            lease = await acquire(holder, name)
            task = asyncio.create_task(apply_project(api, project, confirm=lambda p: True, lock_timeout=60))
            while not any("increment-with-lease" in w for w in api.counters.writes_by_path):
                await asyncio.sleep(0.05)  # planned (one update), now waiting for the lock
            await asyncio.to_thread(server, "PATCH", f"/variables/name/{name}-var", {"value": 2})
            await lease.release()
            plan, outcomes = await task
            return plan, outcomes, api.counters

    plan, outcomes, counters = asyncio.run(go())
    assert plan.pending == () and outcomes == ()
    assert not any(w.startswith("PATCH /variables/name/" + f"{name}-var") for w in counters.writes_by_path)


def test_apply_failures_are_coded_located_diagnostics(tmp_path):
    """A deployment the server refuses (its work pool does not exist) fails with
    apply.server at its document; its schedule is not tried (apply.blocked); the plan's
    own refusals are coded too (plan.adopt-required, in the JSON plan)."""
    specs = FLOW + deployment("d", "    - {slug: hourly, interval: 3600}\n").replace("NAME-pool", "NAME-missing-pool")
    path, name = project_dir(tmp_path, specs)
    _, outcomes, _ = apply_specs(path)
    by_address = {o.address: o for o in outcomes}
    dep = by_address[f"deployment.{name}-flow/d"]
    schedule = by_address[f"schedule.{name}-flow/d/hourly"]
    assert not dep.ok and dep.diagnostic.code == "apply.server", dep
    assert dep.diagnostic.origin.file.endswith(".yaml") and dep.diagnostic.origin.line > 0
    assert not schedule.ok and schedule.diagnostic.code == "apply.blocked"
    assert schedule.error == "its deployment failed"
    assert all(o.diagnostic is None for o in outcomes if o.ok)

    server("POST", "/variables/", {"name": f"{name}-taken", "value": 1})  # made by hand
    var = f"apiVersion: pipeform/v1\nkind: Variable\nmetadata: {{name: {name}-taken}}\nspec: {{value: 2}}\n"
    refused = plan_specs(project_dir(tmp_path, var)[0])
    [d] = refused.diagnostics
    assert d.code == "plan.adopt-required" and d.origin is not None and d.origin.line > 0
    [as_json] = refused.to_json()["diagnostics"]
    assert as_json["code"] == "plan.adopt-required" and as_json["origin"] == str(d.origin)
    assert type(refused).from_json(refused.to_json()).diagnostics == refused.diagnostics
