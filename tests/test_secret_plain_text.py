"""`secret.plain-text` (issue 11): a declared-sensitive `<< env.X >>` (or a `{from_env}`
secret's value) outside a secret field is refused, at validate time from what the
expressions read (spec/check_secrets.py) and at plan time from the values
(reconciler/secret_scan.py): located, exit 1, the secret never printed, nothing written
to the real server. The legitimate routes (a Secret block, a sensitive Variable, an
Environment's `from_env`) still apply, and no REST read without include_secrets shows the
value."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeform.spec import load_project
from tests.server_helpers import apply_specs, plan_specs, server

PROJECT = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: NAME}
spec:
  env:
    PF_PT_TOKEN: {sensitive: true}
  values:
    token: << env.PF_PT_TOKEN >>
    region: eu
---
"""
FLOW = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-pflow}
spec:
  parameters:
    token: {type: string, default: none}
  tasks:
    - {name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: 1}}
---
"""
DEPLOYMENT = """\
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: main}
spec:
  flow: NAME-pflow
  work_pool: {name: NAME-pool}
"""

# route -> (documents after the Project's, where the value that uses the secret starts)
ROUTES = {
    "deployment-parameters": (DEPLOYMENT + "  parameters: {token: << env.PF_PT_TOKEN >>}\n", "<< env"),
    "deployment-parameters-via-values": (DEPLOYMENT + '  parameters: {token: "x-<< values.token >>"}\n', '"x-'),
    "plain-variable": (
        "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: NAME_tok}\nspec: {value: << env.PF_PT_TOKEN >>}\n",
        "<< env",
    ),
    "environment-env": (
        DEPLOYMENT.replace("  flow:", "  environment: NAME-rt\n  flow:")
        + "---\napiVersion: pipeform/v1\nkind: Environment\nmetadata: {name: NAME-rt}\n"
        + "spec:\n  env: {TOKEN: << env.PF_PT_TOKEN >>}\n",
        "<< env",
    ),
    "job-variables": (
        DEPLOYMENT.replace("{name: NAME-pool}", "{name: NAME-pool, job_variables: {env: {T: << env.PF_PT_TOKEN >>}}}"),
        "<< env",
    ),
    "schedule-parameters": (
        DEPLOYMENT + "  schedules:\n    - {cron: '0 3 * * *', parameters: {token: << env.PF_PT_TOKEN >>}}\n",
        "<< env",
    ),
    "deployment-trigger-parameters": (
        DEPLOYMENT
        + "  triggers:\n    - {expect: [prefect.flow-run.Failed], parameters: {token: << env.PF_PT_TOKEN >>}}\n",
        "<< env",
    ),
    "automation-action": (
        "apiVersion: pipeform/v1\nkind: Automation\nmetadata: {name: NAME-auto}\nspec:\n"
        "  trigger: {expect: [prefect.flow-run.Failed], posture: Reactive, threshold: 1, within: 0}\n"
        "  actions:\n    - {type: run-deployment, deployment: NAME-pflow/main, parameters: {token: << env.PF_PT_TOKEN >>}}\n",
        "<< env",
    ),
    "block-field-not-secret": (
        "apiVersion: pipeform/v1\nkind: Block\nmetadata: {name: NAME-hook}\n"
        "spec: {type: custom-webhook, data: {name: hook, url: 'https://x.invalid/<< env.PF_PT_TOKEN >>'}}\n",
        "'https",
    ),
}


POOL = "apiVersion: pipeform/v1\nkind: WorkPool\nmetadata: {name: NAME-pool}\nspec: {type: process}\n---\n"


def _project(tmp_path: Path, body: str, prefix: str = "pt") -> tuple[Path, str]:
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    d = tmp_path / name
    d.mkdir()
    (d / "specs.yaml").write_text((PROJECT + POOL + FLOW + body).replace("NAME", name))
    return d, name


def _position(path: Path, marker: str, after: str = "<< ") -> tuple[int, int]:
    """line, column of `marker` on the first line past the Project document that holds `after`."""
    lines = (path / "specs.yaml").read_text().splitlines()
    for i, text in enumerate(lines):
        if i > 10 and after in text and marker in text:
            return i + 1, text.index(marker) + 1
    raise AssertionError(marker)


def _readable() -> str:
    """What the REST API shows without include_secrets: deployments, variables, blocks, automations."""
    return json.dumps(
        [
            server("POST", f"/{what}/filter", {})
            for what in ("deployments", "variables", "block_documents", "automations")
        ]
    )


@pytest.fixture
def token(monkeypatch) -> str:
    value = f"pt-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("PF_PT_TOKEN", value)
    return value


@pytest.mark.parametrize("route", list(ROUTES))
def test_each_leak_route_is_refused_located_and_writes_nothing(route, tmp_path, cli, token, prefect_api):
    body, marker = ROUTES[route]
    path, name = _project(tmp_path, body)
    line, column = _position(path, marker)
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        for output in ((), ("--output", "json")) if command[0] != "apply" else ((),):
            result = cli(*command, path, *output)
            assert result.exit_code == 1, (command, result.output)
            assert token not in result.output, command
            assert "secret.plain-text" in result.output and "PF_PT_TOKEN" in result.output, result.output
    payload = json.loads(cli("validate", path, "--output", "json").output)
    found = [(d["code"], d["file"], d["line"], d["column"]) for d in payload["diagnostics"] if d["severity"] == "error"]
    assert found == [("secret.plain-text", str(path / "specs.yaml"), line, column)], payload
    # nothing written: not the objects, not the value anywhere the REST API shows
    assert server("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-pflow"]}}}) == []
    assert server("POST", "/work_pools/filter", {"work_pools": {"name": {"any_": [f"{name}-pool"]}}}) == []
    assert token not in _readable()


def test_validate_refuses_without_the_secret_set(tmp_path, monkeypatch):
    """In CI the secret is usually unset: the check reads the declaration, not the value."""
    monkeypatch.delenv("PF_PT_TOKEN", raising=False)
    text = PROJECT.replace("{sensitive: true}", "{sensitive: true, default: placeholder}").replace(
        "    token: << env.PF_PT_TOKEN >>\n", ""
    )
    d = tmp_path / "p"
    d.mkdir()
    var = "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: v}\nspec: {value: \"<< env['PF_PT' ~ '_TOKEN'] | upper >>\"}\n"
    (d / "specs.yaml").write_text(text.replace("NAME", "p") + var)
    project, diagnostics = load_project([d])
    assert project is None
    assert [(x.code, x.origin.line, x.origin.column) for x in diagnostics] == [("secret.plain-text", 13, 15)]


def test_overlay_value_replaces_a_tainted_one(tmp_path, token):
    """An overlay that sets the value literally removes the taint of the base value (and the
    reverse taints it)."""
    text = PROJECT.replace("  values:\n", "  overlays:\n    dev: {values: {token: dev-token}}\n  values:\n")
    var = "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: v}\nspec: {value: << values.token >>}\n"
    d = tmp_path / "p"
    d.mkdir()
    (d / "specs.yaml").write_text(text.replace("NAME", "p") + var)
    assert load_project([d], env="dev")[1] == []
    assert [x.code for x in load_project([d])[1]] == ["secret.plain-text"]


def test_plan_time_backstop_catches_a_pasted_secret(tmp_path, cli, token, monkeypatch, prefect_api):
    """Values only known at plan time: the secret pasted literally (validate cannot know it
    is the secret's value) or a `{from_env}` secret's value reaching a plain field. Both are
    refused by the plan with the value's location, and nothing is written."""
    monkeypatch.setenv("PF_PT_FROM_ENV", f"fe-{token}")
    env = (
        DEPLOYMENT.replace("  flow:", "  environment: NAME-rt\n  flow:")
        + f"  parameters: {{token: {token}}}\n"
        + "---\napiVersion: pipeform/v1\nkind: Environment\nmetadata: {name: NAME-rt}\n"
        + "spec:\n  env: {TOKEN: {from_env: PF_PT_FROM_ENV}}\n"
        + f"---\napiVersion: pipeform/v1\nkind: Variable\nmetadata: {{name: NAME_v}}\nspec: {{value: a-fe-{token}}}\n"
    )
    path, name = _project(tmp_path, env)
    assert cli("validate", path).exit_code == 0
    result = cli("plan", path)
    assert result.exit_code == 1 and token not in result.output, result.output
    spec = str(path / "specs.yaml")
    for line, column in (_position(path, token, "parameters"), _position(path, "a-fe-", "a-fe-")):
        assert f"{spec}:{line}:{column}: error[secret.plain-text]" in result.output, result.output
    assert "PF_PT_TOKEN" in result.output and "PF_PT_FROM_ENV" in result.output
    assert cli("apply", path, "--auto-approve").exit_code == 1
    assert server("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-pflow"]}}}) == []
    assert token not in _readable()


def test_sync_targeted_heal_runs_the_backstop(tmp_path, token):
    """sync's targeted drift check computes the desired state through the same function."""
    from pipeform.spec.diagnostics import SpecError
    from pipeform.sync import targeted

    path, _ = _project(tmp_path, DEPLOYMENT + f"  parameters: {{token: {token}}}\n")
    project, diagnostics = load_project([path])
    assert project is not None, diagnostics
    with pytest.raises(SpecError) as caught:
        targeted.desired(project)
    [d] = caught.value.diagnostics
    assert d.code == "secret.plain-text" and (d.origin.line, d.origin.column) == _position(path, token, "parameters")
    assert token not in str(caught.value)


LEGIT = """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-api-token}
spec: {type: secret, data: {value: << env.PF_PT_TOKEN >>}}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: NAME_password}
spec: {value: "pw-<< values.token >>", sensitive: true}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: NAME-rt}
spec:
  env: {TOKEN: {from_env: PF_PT_TOKEN}, REGION: << values.region >>}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: main}
spec:
  flow: NAME-pflow
  environment: NAME-rt
  work_pool: {name: NAME-pool}
  parameters: {token: NAME-api-token}
"""


def test_legitimate_routes_apply_and_nothing_readable_holds_the_secret(tmp_path, cli, token, prefect_api):
    path, name = _project(tmp_path, LEGIT)
    validated = cli("validate", path)
    assert validated.exit_code == 0, validated.output
    assert "literal-secret" not in validated.output  # read from the environment, not written in git
    result = cli("plan", path)
    assert result.exit_code == 0 and token not in result.output and "(sensitive)" in result.output, result.output
    _, outcomes, _ = apply_specs(path)
    assert outcomes and all(o.ok for o in outcomes), outcomes
    block = server("GET", f"/block_types/slug/secret/block_documents/name/{name}-api-token?include_secrets=true")
    assert block["data"]["value"] == token
    pw = server("GET", f"/block_types/slug/secret/block_documents/name/{name}-password?include_secrets=true")
    assert pw["data"]["value"] == f"pw-{token}"
    dep = server("GET", f"/deployments/name/{name}-pflow/main")
    assert dep["parameters"] == {"token": f"{name}-api-token"}
    assert dep["job_variables"]["env"]["TOKEN"].startswith("{{ prefect.blocks.secret.")
    assert dep["job_variables"]["env"]["REGION"] == "eu"
    assert token not in _readable()
    assert plan_specs(path).pending == ()


def test_a_short_secret_refuses_only_a_field_that_is_its_whole_value(tmp_path, monkeypatch):
    """A secret shorter than secret_scan.SUBSTRING_MIN (`dev`) inside ordinary text
    (`development`) is not a leak; the same value as a field's whole value still is."""
    from pipeform.spec.diagnostics import SpecError
    from pipeform.sync import targeted

    monkeypatch.setenv("PF_PT_TOKEN", "dev")
    path, _ = _project(tmp_path, DEPLOYMENT + "  parameters: {token: development}\n", "short-ok")
    project, diagnostics = load_project([path])
    assert project is not None, diagnostics
    assert any(r.body.get("parameters") == {"token": "development"} for r in targeted.desired(project))
    path, _ = _project(tmp_path, DEPLOYMENT + "  parameters: {token: dev}\n", "short-leak")
    project, diagnostics = load_project([path])
    assert project is not None, diagnostics
    with pytest.raises(SpecError) as caught:
        targeted.desired(project)
    assert [d.code for d in caught.value.diagnostics] == ["secret.plain-text"]


@pytest.mark.parametrize("expr", ["values | string", "values.copy().token", "values | tojson"])
def test_reading_all_values_at_once_counts_as_reading_the_secret(tmp_path, monkeypatch, expr):
    """`values` as a whole (its text, a copy, JSON) holds the tainted value too: validate
    refuses it with the secret unset, as it refuses `values.token`."""
    monkeypatch.delenv("PF_PT_TOKEN", raising=False)
    text = PROJECT.replace("{sensitive: true}", "{sensitive: true, default: placeholder}")
    d = tmp_path / "p"
    d.mkdir()
    var = f'apiVersion: pipeform/v1\nkind: Variable\nmetadata: {{name: v}}\nspec: {{value: "<< {expr} >>"}}\n'
    (d / "specs.yaml").write_text(text.replace("NAME", "p") + var)
    project, diagnostics = load_project([d])
    assert project is None
    assert [x.code for x in diagnostics] == ["secret.plain-text"], diagnostics
