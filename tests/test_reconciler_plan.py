"""The reconciler's pure stages: desired state, normalization, planning, the JSON plan,
masking. No server: these are decisions made on plain data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeform.reconciler.desired import desired_state
from pipeform.reconciler.inputs import DesiredInput, GitInfo, gather_inputs
from pipeform.reconciler.kinds import KINDS, REGISTRY
from pipeform.reconciler.kinds.deployment_values import deployment_body
from pipeform.reconciler.kinds.schedule import SCHEDULE, actual_schedule, schedule_body
from pipeform.reconciler.plan import Action, Plan, make_plan
from pipeform.reconciler.render import plan_text
from pipeform.reconciler.resources import MASK, Resource, canonical, fingerprint
from pipeform.spec import load_project_or_raise
from pipeform.spec.diagnostics import SpecError

ROOT = Path(__file__).resolve().parent.parent


def res(address: str, body: dict, sensitive: tuple[str, ...] = (), server_id: str | None = None) -> Resource:
    kind, name = address.split(".", 1)
    return KINDS[kind].resource(name, body, sensitive=sensitive, server_id=server_id)


def plan(desired, actual=(), inventory=(), **kw) -> Plan:
    return make_plan(list(desired), tuple(actual), frozenset(inventory), project="p", env=None, server="s", **kw)


def test_canonical_ignores_key_order_and_int_float():
    assert canonical({"a": 1, "b": [1.0, {"y": 2, "x": 3}]}) == canonical({"b": [1, {"x": 3.0, "y": 2}], "a": 1.0})
    assert canonical({"a": 1.5}) != canonical({"a": 1})


def test_equal_after_normalization_is_no_op_and_differences_are_field_level():
    want = res("global_limit.db", {"limit": 3, "active": True, "slot_decay_per_second": 0})
    have = res("global_limit.db", {"active": True, "slot_decay_per_second": 0.0, "limit": 3.0}, server_id="1")
    p = plan([want], [have], {"global_limit.db"})
    assert [c.action for c in p.changes] == [Action.NOOP] and p.pending == ()
    changed = res("global_limit.db", {"limit": 5, "active": True, "slot_decay_per_second": 0.0}, server_id="1")
    p = plan([want], [changed], {"global_limit.db"})
    [c] = p.pending
    assert c.action is Action.UPDATE and [(d.path, d.old, d.new) for d in c.diffs] == [("limit", 5, 3)]


def test_order_creates_before_dependents_and_deletes_last_in_reverse():
    desired = [
        res("schedule.f/d/s", {"slug": "s"}),
        res("deployment.f/d", {"x": 1}),
        res("work_pool.pool", {"type": "process"}),
        res("variable.v", {"value": 1}),
    ]
    actual = [
        res("work_pool.old", {"type": "process"}, server_id="1"),
        res("deployment.f/old", {"x": 1}, server_id="2"),
    ]
    p = plan(desired, actual, {"work_pool.old", "deployment.f/old"}, prune=True)
    assert [(c.action.value, c.address) for c in p.pending] == [
        ("create", "work_pool.pool"),
        ("create", "variable.v"),
        ("create", "deployment.f/d"),
        ("create", "schedule.f/d/s"),
        ("delete", "deployment.f/old"),
        ("delete", "work_pool.old"),
    ]


def test_unowned_existing_object_is_refused_without_adopt():
    want = res("variable.v", {"value": 1, "tags": []})
    have = res("variable.v", {"value": 0, "tags": []}, server_id="1")
    refused = plan([want], [have])
    assert refused.pending == () and "--adopt" in refused.errors[0]
    adopted = plan([want], [have], adopt=True)
    assert [c.action for c in adopted.pending] == [Action.UPDATE] and adopted.errors == ()


def test_prune_only_owned_and_never_to_empty_without_allow_empty():
    owned = res("variable.mine", {"value": 1}, server_id="1")
    foreign = res("variable.theirs", {"value": 1}, server_id="2")
    keep = res("variable.keep", {"value": 1})
    p = plan(
        [keep],
        [owned, foreign, res("variable.keep", {"value": 1}, server_id="3")],
        {"variable.mine", "variable.keep"},
        prune=True,
    )
    assert [(c.action, c.address) for c in p.pending] == [(Action.DELETE, "variable.mine")]
    assert plan([keep], [owned, foreign], {"variable.mine"}).pending[0].action is Action.CREATE  # no prune: no delete
    empty = plan([], [owned, foreign], {"variable.mine"}, prune=True)
    assert empty.pending == () and "refusing to prune all 1" in empty.errors[0]
    allowed = plan([], [owned, foreign], {"variable.mine"}, prune=True, allow_empty=True)
    assert [c.address for c in allowed.pending] == ["variable.mine"]


def test_work_pool_type_change_is_a_replace_and_targets_filter():
    want = res("work_pool.p", {"type": "docker", "description": None})
    have = res("work_pool.p", {"type": "process", "description": None}, server_id="1")
    p = plan([want, res("variable.v", {"value": 1})], [have], {"work_pool.p"})
    assert {c.address: c.action for c in p.pending} == {"work_pool.p": Action.REPLACE, "variable.v": Action.CREATE}
    only = plan([want, res("variable.v", {"value": 1})], [have], {"work_pool.p"}, targets=("variable.v",))
    assert [c.address for c in only.changes] == ["variable.v"]


def test_json_plan_round_trips_and_masks_secrets():
    secret = "hunter2-very-secret"
    want = res("variable.token", {"value": secret, "tags": []}, sensitive=("value",))
    have = res("variable.token", {"value": "old-" + secret, "tags": []}, server_id="1")
    p = plan([want, res("variable.plain", {"value": 1, "tags": []})], [have], {"variable.token"})
    data = p.to_json()
    text = json.dumps(data) + plan_text(p)
    assert secret not in text and MASK in text
    assert data["format_version"] == "1.0" and {"project", "env", "server", "actual_fingerprint", "changes"} <= set(
        data
    )
    again = Plan.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert [(c.address, c.action) for c in again.changes] == [(c.address, c.action) for c in p.changes]
    with pytest.raises(ValueError, match="unsupported plan format"):
        Plan.from_json({**data, "format_version": "9.9"})


def test_fingerprint_covers_only_the_addresses_of_the_plan():
    a, b = res("variable.a", {"value": 1}), res("variable.b", {"value": 1})
    changed_b = res("variable.b", {"value": 2})
    assert fingerprint([a, b], {"variable.a"}) == fingerprint([a, changed_b], {"variable.a"})
    assert fingerprint([a, b]) != fingerprint([a, changed_b])


def test_server_defaults_are_applied_to_both_sides():
    mine = deployment_body(flow_name="f", parameter_openapi_schema={}, tags=["b", "a"], version="1+spec.abc.git.123")
    server = deployment_body(
        flow_name="f",
        parameter_openapi_schema={"type": "object", "properties": {}, "title": "Parameters", "definitions": {}},
        tags=["a", "b"],
        version="1+spec.abc.git.456",  # a new commit alone never rewrites a deployment
        parameters={},
        description="",
    )
    assert canonical(mine) == canonical(server)
    spec = schedule_body({"interval": 3600}, "hourly")
    raw = {"schedule": {"interval": 3600.0, "timezone": "UTC", "anchor_date": "2024-01-01T00:00:00Z"}, "active": True}
    want, have = SCHEDULE.comparable(spec, actual_schedule(raw, "hourly"))
    assert have == want


def test_desired_state_of_an_example(monkeypatch):
    monkeypatch.setenv("PIPEFORM_EXAMPLE_SECRET", "value-from-env")
    project = load_project_or_raise([ROOT / "examples" / "quickstart"])
    resources = {r.address: r for r in desired_state(gather_inputs(project))}
    dep = next(r for r in resources.values() if r.kind == "deployment")
    assert dep.body["entrypoint"].startswith("pipeform.compiler.loader:")
    assert f"pipeform:{project.name}" in dep.body["tags"]
    assert "+spec." in dep.body["version"]
    # inside this repository: the folder relative to its root, resolved on the worker
    directory = "{{ $PIPEFORM_REPO_ROOT }}/examples/quickstart"
    assert dep.body["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": directory}}]
    assert any(r.kind == "schedule" for r in resources.values())


def test_environment_secrets_are_sensitive_and_env_overlay_is_set(write, monkeypatch):
    monkeypatch.setenv("PF_SECRET", "abc-secret-123")
    path = write(
        "p.yaml",
        """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: envtest}
spec:
  overlays:
    prod: {values: {}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: f}
spec:
  tasks: [{name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: 1}}]
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: rt}
spec:
  env: {TOKEN: {from_env: PF_SECRET}, MODE: batch}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: d}
spec: {flow: f, environment: rt, work_pool: {name: pool, job_variables: {working_dir: /tmp}}}
""",
    )
    project = load_project_or_raise([path], env="prod")
    resources = desired_state(gather_inputs(project))
    [dep] = [r for r in resources if r.kind == "deployment"]
    env = dep.body["job_variables"]["env"]
    # the secret itself goes to a Secret block the job variables reference (per project and overlay)
    [block] = [r for r in resources if r.kind == "block"]
    assert block.name == "secret/pipeform-envtest-prod-pf-secret" and block.body["data"] == {"value": "abc-secret-123"}
    assert block.sensitive == ("data.value",)
    assert env == {
        "TOKEN": "{{ prefect.blocks.secret.pipeform-envtest-prod-pf-secret }}",
        "MODE": "batch",
        "PIPEFORM_ENV": "prod",
    }
    assert dep.body["job_variables"]["working_dir"] == "/tmp"
    assert dep.sensitive == ("job_variables.env.TOKEN",)
    p = plan([dep, block])
    text = json.dumps(p.to_json()) + plan_text(p)
    assert "abc-secret-123" not in text


SECRET_SPECS = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: pure}
spec: {}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: f}
spec:
  tasks: [{name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: 1}}]
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: rt}
spec:
  env: {TOKEN: {from_env: PF_PURE_SECRET}}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: pool}
spec: {type: process, queues: [{name: q}]}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: d}
spec:
  flow: f
  environment: rt
  work_pool: {name: pool}
  schedules: [{slug: hourly, interval: 3600}]
"""


def test_desired_state_is_a_function_of_its_input_only(write, monkeypatch):
    """Secrets and the git commit come from the DesiredInput, never from the process: the
    same input gives the same resources whatever the environment says."""
    monkeypatch.delenv("PF_PURE_SECRET", raising=False)
    project = load_project_or_raise([write("p.yaml", SECRET_SPECS)])
    with pytest.raises(SpecError) as unset:  # never an empty value: a located error instead
        gather_inputs(project)
    assert [(d.code, d.origin.line) for d in unset.value.diagnostics] == [("env.unset", 16)]
    git = GitInfo("0123456789abcdef0123", "sub/dir", dirty=False)
    given = DesiredInput(project, git, {"PF_PURE_SECRET": "from-input"}, {})
    monkeypatch.setenv("PF_PURE_SECRET", "from-environment")
    first = {r.address: r for r in desired_state(given)}
    dep = first["deployment.f/d"]
    block = first[f"block.secret/pipeform-{project.name}-pf-pure-secret"]
    assert dep.body["job_variables"]["env"]["TOKEN"] == "{{ prefect.blocks.secret." + block.name[7:] + " }}"
    assert block.body["data"] == {"value": "from-input"}
    assert block.body["_secret_sources"] == {"data.value": "PF_PURE_SECRET"}
    assert dep.body["version_full"].endswith(".git.0123456789ab")
    [step] = dep.body["pull_steps"]
    assert step["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ $PIPEFORM_REPO_ROOT }}/sub/dir"
    assert "_secret_sources" not in dep.body  # the deployment holds a reference, no secret
    again = {r.address: r for r in desired_state(given)}
    assert {a: canonical(r.body) for a, r in again.items()} == {a: canonical(r.body) for a, r in first.items()}


def test_resources_carry_their_parent_and_their_bodies_are_read_only(write, monkeypatch):
    monkeypatch.setenv("PF_PURE_SECRET", "pure-value")
    project = load_project_or_raise([write("p.yaml", SECRET_SPECS)])
    resources = {r.address: r for r in desired_state(gather_inputs(project))}
    assert resources["work_queue.pool/q"].parent == "work_pool.pool"
    assert resources["schedule.f/d/hourly"].parent == "deployment.f/d"
    assert resources["deployment.f/d"].parent is None
    with pytest.raises(TypeError):
        resources["deployment.f/d"].body["paused"] = True
    assert {r.kind for r in resources.values()} <= set(KINDS)
    p = plan(resources.values())
    by_address = {c.address: c for c in p.changes}
    assert by_address["schedule.f/d/hourly"].parent == "deployment.f/d"
    assert [c.parent for c in Plan.from_json(p.to_json()).changes] == [c.parent for c in p.changes]


def test_every_kind_has_a_unique_name_and_the_registry_is_in_apply_order():
    names = [k.name for k in REGISTRY]
    assert len(set(names)) == len(names)
    assert [k.order for k in REGISTRY] == sorted(k.order for k in REGISTRY)
