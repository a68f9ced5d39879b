"""`pipeform plan --output markdown|github` against the session's real Prefect server: the
summary per kind, the field-level diff, secrets masked, and the scheduled runs an apply
would cancel (checked against the runs the server really deletes)."""

from __future__ import annotations

import time

import pytest
from server_helpers import apply_specs, project_dir, server

from pipeform.reconciler.plan import Action, Plan, ResourceChange
from pipeform.reconciler.render_markdown import MARKER, MAX_CHARS, code, plan_markdown

SPECS = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-flow}
spec:
  parameters:
    who: {type: string, default: world}
  tasks: [{name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: "$[ params.who ]"}}]
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: changing}
spec:
  flow: NAME-flow
  environment: rt
  parameters: {who: WHO}
  schedules: [{slug: often, interval: 60}]
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: steady}
spec:
  flow: NAME-flow
  schedules: [{slug: often, interval: 60}]
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: rt}
spec:
  env: {TOKEN: {from_env: KIT_PLAN_TOKEN}}
"""


def scheduled_runs(deployment_id: str) -> set[str]:
    runs = server(
        "POST",
        "/flow_runs/filter",
        {"flow_runs": {"deployment_id": {"any_": [deployment_id]}, "state": {"type": {"any_": ["SCHEDULED"]}}}},
    )
    return {r["id"] for r in runs}


def deployment_id(name: str) -> str:
    return server("GET", f"/deployments/name/{name}")["id"]


def wait_for_runs(dep_id: str, timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    while not (runs := scheduled_runs(dep_id)) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert runs, "the scheduler made no run"
    return runs


@pytest.mark.slow
def test_markdown_plan_summarises_masks_and_names_the_cancelled_runs(cli, prefect_api, tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_PLAN_TOKEN", "s3cr3t-first-value")
    path, name = project_dir(tmp_path, SPECS.replace("WHO", "a"), prefix="md")
    apply_specs(path)
    changing, steady = deployment_id(f"{name}-flow/changing"), deployment_id(f"{name}-flow/steady")
    before_changing, before_steady = wait_for_runs(changing), wait_for_runs(steady)

    (path / "project.yaml").write_text((path / "project.yaml").read_text().replace("{who: a}", "{who: b}"))
    monkeypatch.setenv("KIT_PLAN_TOKEN", "s3cr3t-second-value")
    result = cli("plan", path, "--output", "markdown")

    assert result.exit_code == 0, result.output
    md = result.output
    assert md.startswith(MARKER + "\n") and f"project `{name}`" in md
    # the rotated secret is its Secret block's update (the deployment only references it)
    assert "**Plan: 0 to create, 2 to update, 0 to replace, 0 to delete**" in md, md
    assert (
        "| `block` | 0 | 1 | 0 | 0 | 0 |" in md
        and "| `deployment` | 0 | 1 | 0 | 0 | 1 |" in md
        and "| `schedule` | 0 | 0 | 0 | 0 | 2 |" in md
    ), md
    # The line about scheduled runs names the updated deployment only.
    warning = next(line for line in md.splitlines() if "cancels the scheduled runs" in line)
    assert f"`{name}-flow/changing`" in warning and "steady" not in warning
    # The diff is collapsible, field by field, and no secret is in it.
    details = md[md.index("<details>") : md.index("</details>")]
    assert '- parameters.who: "a"' in details and '+ parameters.who: "b"' in details, details
    assert "data.value: (sensitive)" in details and "s3cr3t" not in md

    apply_specs(path)
    # What the plan said: the updated deployment's scheduled runs are gone, the other's stay.
    assert not before_changing & scheduled_runs(changing)
    assert before_steady <= scheduled_runs(steady)


@pytest.mark.slow
def test_github_plan_annotates_the_spec_lines_and_writes_the_job_summary(cli, prefect_api, tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_PLAN_TOKEN", "another-secret-value")
    path, name = project_dir(tmp_path, SPECS.replace("WHO", "a"), prefix="gh")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    monkeypatch.chdir(tmp_path)  # as in CI: run from the repository root, paths relative to it
    result = cli("plan", path, "--output", "github")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    created = [
        line for line in lines if line.startswith("::notice file=") and f"deployment.{name}-flow/changing" in line
    ]
    assert created, result.output
    assert f"::notice file={name}/project.yaml,line=" in created[0], created[0]
    assert lines[-1].startswith("Plan: 5 to create"), lines[-1]  # 2 deployments, 2 schedules, the token's Secret block
    assert "another-secret-value" not in result.output
    assert summary.read_text().startswith(MARKER)


def test_names_from_a_pull_request_are_shown_literally():
    # A spec name or value can hold backticks, HTML and @mentions: each is shown in a code
    # span long enough to hold it, so GitHub renders nothing of it.
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("<img src=x onerror=alert(1)> @team\nline") == "`<img src=x onerror=alert(1)> @team line`"
    change = ResourceChange(
        "variable.v", "variable", "v", Action.CREATE, None, {"value": "```\n@everyone <b>"}, origin="x.yaml:1:1"
    )
    md = plan_markdown(Plan("p", None, "http://user:pw@h/api", (change,), "f"))
    block = md[md.index("<details>") :]
    fence = next(line for line in block.splitlines() if line.startswith("```"))
    assert fence == "````diff"  # longer than the backticks inside the value
    assert "user:pw" not in md and "http://***@h/api" in md


def test_a_huge_plan_stays_under_githubs_comment_limit():
    changes = tuple(
        ResourceChange(f"variable.v{i}", "variable", f"v{i}", Action.CREATE, None, {"value": "x" * 250})
        for i in range(2000)
    )
    md = plan_markdown(Plan("p", None, "http://h/api", changes, "f"))
    assert len(md) < 65_536 and len(md) <= MAX_CHARS + 2000
    assert "more changes cut" in md and "| `variable` | 2000 | 0 | 0 | 0 | 0 |" in md
