"""Fields no other test read back from where Prefect keeps them, in one applied spec (one
apply against the session's real server, then a REST read of every object), and the fields
Prefect has no place for, refused with a located diagnostic instead of dropped."""

from __future__ import annotations

import pytest
from server_helpers import FLOW_AND_POOL, apply_specs, plan_specs, project_dir, server

from pipeform.spec import load_project

SPEC = (
    FLOW_AND_POOL.replace("spec: {type: process}", "spec:\n  type: process\n  queues: [{name: q}]").replace(
        "metadata: {name: NAME-pool}", "metadata: {name: NAME-pool, description: said in metadata}"
    )
    + """\
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: fid}
spec:
  flow: NAME-flow
  work_pool: {name: NAME-pool, queue: q}
  environment: NAME-env
  enforce_parameter_schema: false
  paused: true
  concurrency_limit: {limit: 2, collision_strategy: CANCEL_NEW, grace_period_seconds: 120}
  source:
    git:
      repository: https://example.com/acme/pipelines.git
      commit_sha: 0123abcd
      include_submodules: true
      directory: specs
  schedules:
    - {slug: c, cron: "0 3 * * 1", day_or: false, timezone: Europe/Paris, max_scheduled_runs: 3}
    - {slug: i, interval: 900, anchor_date: "2026-03-01T12:00:00+00:00", parameters: {}}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: NAME-env}
spec: {requirements_file: reqs/requirements.txt}
---
apiVersion: pipeform/v1
kind: ConcurrencyLimit
metadata: {name: NAME-off}
spec: {limit: 4, active: false, slot_decay_per_second: 0.5}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: NAME_var}
spec: {value: {k: [1, 2]}, tags: [one, two]}
---
apiVersion: pipeform/v1
kind: Automation
metadata: {name: NAME-auto, description: from metadata}
spec:
  enabled: false
  tags: [watch]
  trigger:
    match: {prefect.resource.id: "prefect.flow-run.*"}
    for_each: [prefect.resource.id]
    after: [prefect.flow-run.Running]
    expect: [prefect.flow-run.Completed]
    posture: Proactive
    threshold: 2
    within: 600
  actions: [{type: do-nothing}]
  actions_on_trigger: [{type: cancel-flow-run}]
  actions_on_resolve: [{type: do-nothing}]
---
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-hook}
spec: {type: webhook, data: {url: "http://127.0.0.1:9/hook"}}
---
apiVersion: pipeform/v1
kind: Automation
metadata: {name: NAME-acts}
spec:
  trigger:
    expect: [prefect.flow-run.Failed]
    match_related: [{prefect.resource.role: flow, prefect.resource.name: NAME-flow}]
  actions:
    - {type: run-deployment, deployment: fid, job_variables: {env: {A: "1"}}, schedule_after: 30}
    - {type: change-flow-run-state, state: CANCELLED, name: Stopped, message: by automation, force: true}
    - {type: pause-work-queue, work_queue: NAME-pool/q}
    - {type: pause-automation, automation: NAME-auto}
    - {type: resume-work-pool, work_pool: NAME-pool}
    - {type: call-webhook, block: NAME-hook, payload: '{"run": "{{ flow_run.name }}"}'}
"""
)


@pytest.mark.usefixtures("prefect_api")
def test_rarely_used_fields_reach_the_server(tmp_path):
    path, name = project_dir(tmp_path, SPEC, prefix="fid")
    (path / "reqs").mkdir()
    (path / "reqs" / "requirements.txt").write_text("six==1.17.0\n")
    plan, outcomes, _ = apply_specs(path)
    assert plan.errors == () and outcomes and all(o.ok for o in outcomes), outcomes

    pool = server("GET", f"/work_pools/{name}-pool")
    assert pool["description"] == "said in metadata"  # metadata.description when spec has none
    pool_id = pool["id"]

    dep = server("GET", f"/deployments/name/{name}-flow/fid")
    lock = dep["job_variables"]["env"]["PIPEFORM_ENVIRONMENT_LOCK"]  # what the worker builds the venv from
    assert "\nsix==1.17.0\n" in lock and dep["job_variables"]["command"] == "python -m pipeform.environments.launch"
    assert dep["enforce_parameter_schema"] is False and dep["paused"] is True
    assert dep["work_queue_name"] == "q"
    assert dep["global_concurrency_limit"]["limit"] == 2
    assert dep["concurrency_options"] == {"collision_strategy": "CANCEL_NEW", "grace_period_seconds": 120}
    clone = dep["pull_steps"][0]["prefect.deployments.steps.git_clone"]
    assert clone["commit_sha"] == "0123abcd" and clone["include_submodules"] is True and "branch" not in clone
    assert dep["pull_steps"][1] == {
        "prefect.deployments.steps.set_working_directory": {"directory": "{{ clone.directory }}/specs"}
    }
    schedules = {s["slug"]: s for s in dep["schedules"]}
    cron = schedules["c"]
    assert cron["schedule"] == {"cron": "0 3 * * 1", "timezone": "Europe/Paris", "day_or": False}
    assert cron["max_scheduled_runs"] == 3
    assert schedules["i"]["schedule"]["interval"] == 900
    assert schedules["i"]["schedule"]["anchor_date"].startswith("2026-03-01T12:00:00")

    limit = server("GET", f"/v2/concurrency_limits/{name}-off")
    assert (limit["limit"], limit["active"], limit["slot_decay_per_second"]) == (4, False, 0.5)

    var = server("GET", f"/variables/name/{name}_var")
    assert var["value"] == {"k": [1, 2]} and {"one", "two"} <= set(var["tags"])

    [auto] = server("POST", "/automations/filter", {"automations": {"name": {"any_": [f"{name}-auto"]}}})
    assert auto["enabled"] is False and auto["description"] == "from metadata" and "watch" in auto["tags"]
    t = auto["trigger"]
    assert (t["posture"], t["threshold"], t["within"]) == ("Proactive", 2, 600.0)
    assert t["for_each"] == ["prefect.resource.id"] and t["after"] == ["prefect.flow-run.Running"]
    assert [a["type"] for a in auto["actions"]] == ["do-nothing"]
    assert [a["type"] for a in auto["actions_on_trigger"]] == ["cancel-flow-run"]
    assert [a["type"] for a in auto["actions_on_resolve"]] == ["do-nothing"]

    [acts] = server("POST", "/automations/filter", {"automations": {"name": {"any_": [f"{name}-acts"]}}})
    assert acts["trigger"]["match_related"] == [
        {"prefect.resource.role": "flow", "prefect.resource.name": f"{name}-flow"}
    ]
    run, state, queue, pause, pool, hook = acts["actions"]
    assert (run["deployment_id"], run["job_variables"], run["schedule_after"]) == (dep["id"], {"env": {"A": "1"}}, 30.0)
    assert state["state"] == "CANCELLED" and (state["name"], state["message"], state["force"]) == (
        "Stopped",
        "by automation",
        True,
    )
    assert queue["work_queue_id"] == server("GET", f"/work_pools/{name}-pool/queues/q")["id"]
    assert pause["automation_id"] == auto["id"] and pool["work_pool_id"] == pool_id
    blocks = server("POST", "/block_documents/filter", {"block_documents": {"name": {"any_": [f"{name}-hook"]}}})
    assert hook["block_document_id"] == blocks[0]["id"] and hook["payload"] == '{"run": "{{ flow_run.name }}"}'

    again = plan_specs(path)
    assert again.pending == (), [(c.address, c.diffs) for c in again.pending]

    # `pipeform import` of it: the deployment compiled from a Flow document is named as
    # skipped (its specs are its source), not written with the loader as an entrypoint
    # that then fails `validate` (entrypoint.not-found).
    imported = _imported(name="fid")
    assert not [d for d in imported.documents if d["kind"] == "Deployment"]
    assert any(f"{name}-flow/fid" in s and "Flow document" in s for s in imported.skipped), imported.skipped


def _imported(name: str):
    import asyncio

    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.importer import read_server, to_documents

    async def go():
        async with ServerAPI.from_env() as api:
            return to_documents(await read_server(api), ("Deployment",), name)

    return asyncio.run(go())


REFUSED = [
    ("cron + anchor_date", 'cron: "0 1 * * *", anchor_date: "2026-01-01T00:00:00Z"', "interval schedules only"),
    ("rrule + anchor_date", 'rrule: "FREQ=DAILY", anchor_date: "2026-01-01T00:00:00Z"', "interval schedules only"),
    ("interval + day_or", "interval: 60, day_or: false", "cron schedules only"),
    ("bad anchor_date", 'interval: 60, anchor_date: "next tuesday"', "not an ISO 8601"),
]


@pytest.mark.parametrize(("case", "schedule", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_schedule_fields_prefect_has_no_place_for_are_located_errors(write, case, schedule, message):
    path = write(
        "d.yaml",
        "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
        "  entrypoint: flows.py:f\n  schedules:\n    - {" + schedule + "}\n",
    )
    _, diagnostics = load_project([path])
    [d] = [d for d in diagnostics if d.severity == "error"]
    assert message in d.message and (d.origin.line, d.origin.column) == (7, 7), str(d)


OTHER_REFUSED = [
    ("tag limit decay", "ConcurrencyLimit", "{limit: 2, tag: db, slot_decay_per_second: 1}", "has no decay"),
    ("tag limit inactive", "ConcurrencyLimit", "{limit: 2, tag: db, active: false}", "always enforced"),
    ("sensitive tags", "Variable", "{value: x, sensitive: true, tags: [a]}", "has no tags"),
    (
        "branch and sha",
        "Deployment",
        "{entrypoint: 'f.py:f', source: {git: {repository: r, branch: main, commit_sha: abcd}}}",
        "not both",
    ),
    (
        "sha not hex",
        "Deployment",
        "{entrypoint: 'f.py:f', source: {git: {repository: r, commit_sha: main}}}",
        "hexadecimal",
    ),
    (
        "dash branch",
        "Deployment",
        "{entrypoint: 'f.py:f', source: {git: {repository: r, branch: -x}}}",
        "start with '-'",
    ),
    ("version_type", "Deployment", "{entrypoint: 'f.py:f', version_type: 'vcs:git'}", "unknown field 'version_type'"),
]


@pytest.mark.parametrize(("case", "kind", "spec", "message"), OTHER_REFUSED, ids=[c[0] for c in OTHER_REFUSED])
def test_fields_dropped_on_the_way_to_prefect_are_located_errors(write, case, kind, spec, message):
    path = write("x.yaml", f"apiVersion: pipeform/v1\nkind: {kind}\nmetadata: {{name: x}}\nspec: {spec}\n")
    _, diagnostics = load_project([path])
    errors = [d for d in diagnostics if d.severity == "error"]
    assert errors and message in errors[0].message and errors[0].origin.line == 4, [str(d) for d in errors]


def test_convert_reports_version_type_instead_of_writing_it(tmp_path):
    from pipeform.convert import convert_files

    (tmp_path / "flows.py").write_text("from prefect import flow\n\n\n@flow\ndef f():\n    pass\n")
    (tmp_path / "prefect.yaml").write_text(
        "deployments:\n  - name: d\n    entrypoint: flows.py:f\n    version: '2'\n    version_type: vcs:git\n"
        "    work_pool: {name: p}\n"
    )
    conv = convert_files([tmp_path / "prefect.yaml"], variables={}, import_computed=False)
    [spec] = [d["spec"] for d in conv.documents if d["kind"] == "Deployment"]
    assert spec["version"] == "2" and "version_type" not in spec
    assert [(d.code, d.origin.line) for d in conv.diagnostics if d.code == "convert.version-type"] == [
        ("convert.version-type", 5)
    ]


SHELL_FLOW = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-shell}
spec:
  validate_parameters: true
  parameters:
    n: {type: integer, default: 3, maximum: 5}
  returns: {quiet: "$[ tasks.quiet.result ]", lines: "$[ tasks.loud.result ]"}
  tasks:
    - name: quiet
      shell:
        command: |
          printf '["%s", "%s"]' "$X" "$(pwd)"; echo QUIET-ERR >&2
        env: {X: from-env}
        cwd: /tmp
        capture: json
        stream_output: false
    - name: loud
      shell: {command: "echo LOUD-1; echo LOUD-2", capture: lines}
"""


@pytest.mark.usefixtures("prefect_api")
def test_shell_fields_and_parameter_maximum_in_a_flow_run(tmp_path):
    """capture/env/cwd shape the result; stream_output: false keeps the lines out of the
    run's logs on the server; `maximum` is enforced by the compiled flow."""
    import time

    from pipeform.compiler import compile_flow
    from pipeform.spec import load_project_or_raise

    path, name = project_dir(tmp_path, SHELL_FLOW, prefix="sh")
    flow = compile_flow(load_project_or_raise([path]), f"{name}-shell")
    state = flow(return_state=True)
    assert state.result() == {"quiet": ["from-env", "/tmp"], "lines": ["LOUD-1", "LOUD-2"]}
    run_id = str(state.state_details.flow_run_id)
    deadline, messages = time.monotonic() + 30, []
    while time.monotonic() < deadline and "LOUD-2" not in messages:  # logs are shipped in batches
        time.sleep(1)
        messages = [e["message"] for e in server("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})]
    assert "LOUD-1" in messages and "LOUD-2" in messages
    assert not [m for m in messages if "QUIET-ERR" in m or "from-env" in m], messages
    assert not flow(n=6, return_state=True).is_completed()  # over `maximum`


CALLER = (
    FLOW_AND_POOL
    + """\
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: target}
spec: {flow: NAME-flow, work_pool: {name: NAME-pool}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-caller}
spec:
  parameters:
    region: {type: string, default: eu}
  returns: "$[ tasks.fire.result ]"
  tasks:
    - name: fire
      deployment: {name: NAME-flow/target, wait: false, job_variables: {env: {REGION: "$[ params.region ]"}}}
    - name: waited
      deployment: {name: NAME-flow/target, wait: true, timeout_seconds: 2}
      continue_on_failure: true
"""
)


@pytest.mark.usefixtures("prefect_api")
def test_deployment_task_job_variables_and_timeout_in_a_flow_run(tmp_path):
    """No worker serves the pool: `wait: false` returns at once with a run carrying the
    rendered job variables; `wait: true` gives up after `timeout_seconds`."""
    import time

    from pipeform.compiler import compile_flow
    from pipeform.spec import load_project_or_raise

    path, name = project_dir(tmp_path, CALLER, prefix="dt")
    plan, outcomes, _ = apply_specs(path)
    assert plan.errors == () and all(o.ok for o in outcomes), outcomes
    flow = compile_flow(load_project_or_raise([path]), f"{name}-caller")
    start = time.monotonic()
    state = flow(region="us", return_state=True)
    assert state.is_completed() and time.monotonic() - start < 60
    run = server("GET", f"/flow_runs/{state.result()}")
    assert run["job_variables"] == {"env": {"REGION": "us"}} and run["state"]["type"] == "SCHEDULED"
    query = {"flow_runs": {"id": {"any_": [str(state.state_details.flow_run_id)]}}}
    deadline = time.monotonic() + 30  # task-run states reach the server through the event stream
    while True:
        found = [r for r in server("POST", "/task_runs/filter", query) if r["name"].startswith("waited")]
        if (found and found[0]["state"]["type"] == "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    [waited] = found
    assert waited["state"]["type"] == "FAILED" and "ended Scheduled" in (waited["state"]["message"] or "")


PARAMETER_LIMITS = [
    ("enum-bounds", "{type: integer, enum: [1, 20], maximum: 10}", "drop maximum"),
    ("enum-pattern", "{type: string, enum: [a], pattern: '^a$'}", "drop pattern"),
    ("string-minimum", "{type: string, minimum: 3}", "integer and number parameters only"),
    ("integer-pattern", "{type: integer, pattern: '^x$'}", "string parameters only"),
]


@pytest.mark.parametrize(("case", "param", "message"), PARAMETER_LIMITS, ids=[c[0] for c in PARAMETER_LIMITS])
def test_parameter_limits_that_do_not_fit_the_type_are_located(write, case, param, message):
    """Compiled, these made every run fail (a TypeError) or were ignored (an enum)."""
    flow = "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: f}\nspec:\n  parameters:\n    p: " + param
    path = write("f.yaml", flow + "\n  tasks:\n    - {name: t, python: m:f}\n")
    _, diagnostics = load_project([path])
    [d] = [d for d in diagnostics if d.severity == "error"]
    assert message in d.message and (d.origin.line, d.origin.column) == (6, 8), str(d)
