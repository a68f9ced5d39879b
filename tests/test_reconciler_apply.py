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

import httpx
import pytest

from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.engine import apply_project, plan_project
from pipeform.reconciler.plan import Action
from pipeform.spec import load_project_or_raise

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("prefect_api")


def project_dir(tmp_path: Path, body: str, name: str | None = None) -> tuple[Path, str]:
    name = name or f"t{uuid.uuid4().hex[:10]}"
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "project.yaml").write_text(
        f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n---\n"
        + body.replace("NAME", name)
    )
    return d, name


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


def run(coro):
    return asyncio.run(coro)


async def _apply(path: Path, **kw):
    project = load_project_or_raise([path])
    async with ServerAPI.from_env() as api:
        plan, outcomes = await apply_project(api, project, confirm=lambda p: True, **kw)
        return plan, outcomes, api.counters


async def _plan(path: Path, **kw):
    project = load_project_or_raise([path])
    async with ServerAPI.from_env() as api:
        plan, _ = await plan_project(api, project, **kw)
        return plan


def api_get(method: str, path: str, body=None):
    r = httpx.request(method, os.environ["PREFECT_API_URL"] + path, json=body, timeout=30)
    r.raise_for_status()
    return r.json() if r.content else None


def deployment_by_name(flow: str, dep: str) -> dict:
    return api_get("GET", f"/deployments/name/{flow}/{dep}")


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir()))
def test_every_example_applies_then_plans_empty(example):
    path = ROOT / "examples" / example
    os.environ.setdefault("PIPEFORM_EXAMPLE_SECRET", "example-secret")
    plan, outcomes, _ = run(_apply(path))
    assert plan.errors == ()
    assert outcomes and all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    again = run(_plan(path))
    assert again.pending == (), [(c.address, c.diffs) for c in again.pending]


def test_noop_apply_writes_nothing_and_keeps_scheduled_runs(tmp_path):
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("d", "    - {slug: every-hour, interval: 3600}\n"))
    run(_apply(path))
    dep = deployment_by_name(f"{name}-flow", "d")
    deadline = time.monotonic() + 30
    runs: list = []
    while time.monotonic() < deadline and not runs:  # guards the SQLAlchemy pin: the scheduler must work
        runs = api_get("POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}})
        time.sleep(1)
    assert runs, "the scheduler created no runs"
    before = sorted(r["id"] for r in runs)
    plan, outcomes, counters = run(_apply(path))
    assert plan.pending == () and outcomes == ()
    assert counters.writes == 0
    after = sorted(
        r["id"] for r in api_get("POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}})
    )
    assert before == after


def test_schedule_change_in_place_keeps_id_and_pause(tmp_path):
    schedules = "    - {slug: a, cron: '0 3 * * *', active: false}\n    - {slug: b, interval: 7200}\n"
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("d", schedules))
    run(_apply(path))
    before = {s["slug"]: s for s in deployment_by_name(f"{name}-flow", "d")["schedules"]}
    (path / "project.yaml").write_text((path / "project.yaml").read_text().replace("0 3 * * *", "0 4 * * *"))
    plan, outcomes, counters = run(_apply(path))
    assert [c.address for c in plan.pending] == [f"schedule.{name}-flow/d/a"]
    assert all(o.ok for o in outcomes)
    after = {s["slug"]: s for s in deployment_by_name(f"{name}-flow", "d")["schedules"]}
    assert after["a"]["id"] == before["a"]["id"] and after["a"]["schedule"]["cron"] == "0 4 * * *"
    assert after["a"]["active"] is False
    assert after["b"] == before["b"]
    assert not any(w.startswith("PATCH /deployments/") and "schedules" not in w for w in counters.writes_by_path)


def test_prune_deletes_owned_only_and_refuses_empty(tmp_path):
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("keep") + deployment("drop"))
    run(_apply(path))
    flow = api_get("POST", "/flows/", {"name": f"{name}-flow"})
    api_get("POST", "/deployments/", {"name": "by-hand", "flow_id": flow["id"]})
    text = (path / "project.yaml").read_text()
    (path / "project.yaml").write_text(
        text[: text.index("---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: drop}")]
    )
    plan = run(_plan(path))
    assert plan.pending == ()  # without --prune nothing is deleted
    plan, outcomes, _ = run(_apply(path, prune=True))
    assert [(c.action, c.address) for c in plan.pending] == [(Action.DELETE, f"deployment.{name}-flow/drop")]
    names = {d["name"] for d in api_get("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-flow"]}}})}
    assert names == {"keep", "by-hand"}
    (path / "project.yaml").write_text(
        f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n"
    )
    plan, outcomes, _ = run(_apply(path, prune=True))
    assert outcomes is None and "refusing to prune all" in plan.errors[0]
    assert deployment_by_name(f"{name}-flow", "keep")


def test_existing_object_needs_adopt(tmp_path):
    path, name = project_dir(
        tmp_path, "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: NAME-var}\nspec: {value: 1}\n"
    )
    api_get("POST", "/variables/", {"name": f"{name}-var", "value": 0})
    plan, outcomes, _ = run(_apply(path))
    assert outcomes is None and "--adopt" in plan.errors[0]
    assert api_get("GET", f"/variables/name/{name}-var")["value"] == 0
    plan, outcomes, _ = run(_apply(path, adopt=True))
    assert all(o.ok for o in outcomes)
    assert api_get("GET", f"/variables/name/{name}-var")["value"] == 1
    assert run(_plan(path)).pending == ()


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
    assert deployment_by_name(f"{name}-flow", "d")["job_variables"]["env"]["TOKEN"] == secret
    monkeypatch.setenv("PIPEFORM_TEST_TOKEN", secret + "-rotated")
    changed = cli("plan", path)
    assert "job_variables.env.TOKEN: (sensitive) -> (sensitive)" in changed.output
    assert secret not in changed.output


def test_plan_exit_codes_and_saved_plan(tmp_path, cli):
    path, name = project_dir(tmp_path, FLOW + POOL + deployment("d"))
    assert cli("plan", path, "--detailed-exitcode").exit_code == 2
    saved = tmp_path / "plan.json"
    assert cli("plan", path, "--out", saved).exit_code == 0
    data = json.loads(saved.read_text())
    assert data["format_version"] == "1.0" and data["summary"]["create"] == 2
    api_get("POST", "/variables/", {"name": f"{name}-unrelated", "value": 1})  # unrelated: the plan still holds
    api_get("POST", "/work_pools/", {"name": f"{name}-pool", "type": "process"})  # the plan's object appears
    stale = cli("apply", saved, "--auto-approve")
    assert stale.exit_code == 1 and "changed since this plan was made" in stale.output
    httpx.delete(os.environ["PREFECT_API_URL"] + f"/work_pools/{name}-pool").raise_for_status()
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
    deps = api_get("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-flow"]}}})
    assert sorted(d["name"] for d in deps) == [f"d{i}" for i in range(6)]
