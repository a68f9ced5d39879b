"""Blocks and secrets against the session's real Prefect server: secrets live only in Secret
blocks (not in deployments, variables, block reads without include_secrets, nor the
server's database file), a worker's run sees the value, a changed secret is a masked
in-place update, an unset from_env is a located error, import writes no secret."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.importer import read_server, to_documents
from pipeform.reconciler.plan import Action

pytestmark = pytest.mark.usefixtures("prefect_api")

PROBE = """\
import os


def dump(path: str, key: str) -> str:
    with open(path, "w") as f:
        f.write(os.environ.get(key, "<unset>"))
    return "ok"
"""

SPECS = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-flow}
spec:
  tasks:
    - {name: t, python: "probe:dump", inputs: {path: OUT, key: TOKEN}}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-pool}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: rt}
spec:
  env:
    TOKEN: {from_env: PF_TEST_TOKEN_ENV}
    MODE: batch
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: main}
spec: {flow: NAME-flow, environment: rt, work_pool: {name: NAME-pool}}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: NAME_db_password}
spec: {value: {from_env: PF_TEST_DB_PASSWORD}, sensitive: true}
---
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-api-token}
spec:
  type: secret
  data: {value: {from_env: PF_TEST_API_TOKEN}}
"""


def _project(tmp_path: Path) -> tuple[Path, str, Path]:
    out = tmp_path / "seen.txt"
    path, name = project_dir(tmp_path, SPECS.replace("OUT", str(out)), prefix="blk")
    (path / "probe.py").write_text(PROBE)
    return path, name, out


def _block(slug: str, name: str, secrets: bool = False) -> dict:
    q = "?include_secrets=true" if secrets else ""
    return server("GET", f"/block_types/slug/{slug}/block_documents/name/{name}{q}")


def _everything_readable(name: str) -> str:
    """What the REST API shows without include_secrets: deployments, variables, blocks."""
    deployments = server("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-flow"]}}})
    variables = server("POST", "/variables/filter", {})
    blocks = server("POST", "/block_documents/filter", {})
    runs = server("POST", "/flow_runs/filter", {})
    return repr((deployments, variables, blocks, runs))


def _database_bytes(session_dir: Path) -> bytes:
    home = session_dir / "server-home"
    return b"".join(p.read_bytes() for p in home.glob("prefect.db*"))


def _run_once(cli, name: str, dep_id: str, tmp_path: Path) -> dict:
    run = server("POST", f"/deployments/{dep_id}/create_flow_run", {})
    result = cli("worker", "start", "--pool", f"{name}-pool", "--run-once", "--state-dir", tmp_path / "state")
    assert result.exit_code == 0, result.output
    return server("GET", f"/flow_runs/{run['id']}")


@pytest.mark.slow
def test_secrets_live_only_in_secret_blocks_and_reach_the_run(tmp_path, monkeypatch, cli, session_dir):
    token, password, api_token = (f"tok-{uuid.uuid4().hex}", f"pw-{uuid.uuid4().hex}", f"api-{uuid.uuid4().hex}")
    monkeypatch.setenv("PF_TEST_TOKEN_ENV", token)
    monkeypatch.setenv("PF_TEST_DB_PASSWORD", password)
    monkeypatch.setenv("PF_TEST_API_TOKEN", api_token)
    path, name, out = _project(tmp_path)
    human = cli("plan", path)
    assert human.exit_code == 0 and all(s not in human.output for s in (token, password, api_token))
    plan, outcomes, _ = apply_specs(path)
    assert all(o.ok for o in outcomes), outcomes
    env_block = f"pipeform-{name}-pf-test-token-env"
    assert {c.address for c in plan.pending} >= {
        f"block.secret/{env_block}",
        f"block.secret/{name}-db-password",
        f"block.secret/{name}-api-token",
    }
    # Each secret is in its Secret block (read back only with include_secrets) ...
    assert _block("secret", env_block, secrets=True)["data"]["value"] == token
    assert _block("secret", f"{name}-db-password", secrets=True)["data"]["value"] == password
    assert _block("secret", f"{name}-api-token", secrets=True)["data"]["value"] == api_token
    assert _block("secret", f"{name}-db-password")["data"]["value"] == "********"
    # ... the deployment holds a reference, the sensitive Variable is no Prefect variable ...
    dep = server("GET", f"/deployments/name/{name}-flow/main")
    assert dep["job_variables"]["env"]["TOKEN"] == "{{ prefect.blocks.secret." + env_block + " }}"
    assert f"{name}_db_password" not in [v["name"] for v in server("POST", "/variables/filter", {})]
    # ... and a run through a worker sees the value (resolved on the worker).
    state = _run_once(cli, name, dep["id"], tmp_path)["state"]
    assert state["type"] == "COMPLETED", state
    assert out.read_text() == token
    readable = _everything_readable(name)
    for secret in (token, password, api_token):
        assert secret not in readable
        if (session_dir / "server-home").exists():  # our own SQLite server (not an external one)
            assert secret.encode() not in _database_bytes(session_dir)
    # A second plan is empty: secrets are compared by their salted hashes.
    assert plan_specs(path).pending == ()

    # Rotate the token: a masked change, the same block updated in place, the next run sees it.
    before = _block("secret", env_block)["id"]
    monkeypatch.setenv("PF_TEST_TOKEN_ENV", token + "-rotated")
    changed = cli("plan", path)
    assert "block.secret/" + env_block in changed.output and "data.value: (sensitive) changed" in changed.output
    assert token not in changed.output
    plan, outcomes, _ = apply_specs(path)
    assert [c.address for c in plan.pending] == [f"block.secret/{env_block}"]
    assert [c.action for c in plan.pending] == [Action.UPDATE] and all(o.ok for o in outcomes)
    assert _block("secret", env_block)["id"] == before
    assert _run_once(cli, name, dep["id"], tmp_path)["state"]["type"] == "COMPLETED"
    assert out.read_text() == token + "-rotated"


def test_unset_from_env_is_a_located_error_at_plan(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("PF_TEST_TOKEN_ENV", "x-value-1")
    monkeypatch.setenv("PF_TEST_API_TOKEN", "x-value-2")
    monkeypatch.delenv("PF_TEST_DB_PASSWORD", raising=False)
    path, name, _ = _project(tmp_path)
    result = cli("plan", path)
    assert result.exit_code == 1
    assert "env.unset" in result.output and "$PF_TEST_DB_PASSWORD is not set" in result.output
    assert "project.yaml:" in result.output  # located at the Variable's value
    monkeypatch.setenv("PF_TEST_DB_PASSWORD", "")
    assert cli("apply", path, "--auto-approve").exit_code == 1  # empty counts as unset: nothing written
    written = server("POST", "/block_documents/filter", {"block_documents": {"name": {"any_": [f"{name}-api-token"]}}})
    assert written == []
    assert not server("POST", "/deployments/filter", {"flows": {"name": {"any_": [f"{name}-flow"]}}})


WEBHOOK_BLOCK = """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-hook}
spec:
  type: custom-webhook
  data:
    name: hook
    url: "http://127.0.0.1:9/{{token}}"
    secrets: {token: {from_env: PF_TEST_HOOK_TOKEN}}
"""


def test_block_update_in_place_prune_and_import_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("PF_TEST_HOOK_TOKEN", "hook-secret-1")
    path, name = project_dir(tmp_path, WEBHOOK_BLOCK, prefix="blk")
    plan, outcomes, _ = apply_specs(path)
    assert all(o.ok for o in outcomes) and [c.action for c in plan.pending] == [Action.CREATE]
    first = _block("custom-webhook", f"{name}-hook")
    assert first["data"]["secrets"] == {"token": "********"}
    assert plan_specs(path).pending == ()
    # A non-secret field: a plain diff, updated in place.
    (path / "project.yaml").write_text((path / "project.yaml").read_text().replace(":9/", ":10/"))
    plan, outcomes, _ = apply_specs(path)
    assert [d.path for d in plan.pending[0].diffs] == ["data.url"] and all(o.ok for o in outcomes)
    assert _block("custom-webhook", f"{name}-hook")["id"] == first["id"]
    assert _block("custom-webhook", f"{name}-hook", secrets=True)["data"]["secrets"]["token"] == "hook-secret-1"

    async def read():
        async with ServerAPI.from_env() as api:
            return await read_server(api)

    imported = to_documents(asyncio.run(read()), ("Block",), name=f"{name}-hook")
    assert len(imported.documents) == 1
    spec = imported.documents[0]["spec"]
    assert spec["type"] == "custom-webhook" and spec["data"]["secrets"] == {
        "token": {"from_env": f"{name.upper()}_HOOK_SECRETS_TOKEN"}
    }
    assert "hook-secret-1" not in repr(imported)

    # Left the specs: kept without --prune, deleted with it (it is owned).
    (path / "project.yaml").write_text((path / "project.yaml").read_text().split("---\n")[0])
    assert plan_specs(path).pending == ()
    plan, outcomes, _ = apply_specs(path, prune=True, allow_empty=True)
    assert [c.action for c in plan.pending] == [Action.DELETE] and all(o.ok for o in outcomes)
    assert server("POST", "/block_documents/filter", {"block_documents": {"name": {"any_": [f"{name}-hook"]}}}) == []


def test_existing_block_needs_adopt_and_is_then_written_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PF_TEST_API_TOKEN", "adopted-value")
    body = SPECS.split("---\n")[-1]
    path, name = project_dir(tmp_path, body, prefix="blk")
    block_type = server("GET", "/block_types/slug/secret")
    schema = server(
        "POST", "/block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}}
    )[0]
    server(
        "POST",
        "/block_documents/",
        {
            "name": f"{name}-api-token",
            "data": {"value": "by-hand"},
            "block_type_id": block_type["id"],
            "block_schema_id": schema["id"],
        },
    )
    assert any("already exists" in e for e in plan_specs(path).errors)
    plan, outcomes, _ = apply_specs(path, adopt=True)
    assert [c.action for c in plan.pending] == [Action.UPDATE] and all(o.ok for o in outcomes)
    assert _block("secret", f"{name}-api-token", secrets=True)["data"]["value"] == "adopted-value"
    assert plan_specs(path).pending == ()


def test_import_of_a_secret_block_and_a_sensitive_variable_writes_no_secret(tmp_path, monkeypatch, cli):
    password = f"imp-pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("PF_TEST_IMPORT_PW", password)
    var = "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: NAME_pw}\nspec: {value: {from_env: PF_TEST_IMPORT_PW}, sensitive: true}\n"
    path, name = project_dir(tmp_path, var, prefix="imp")
    _, outcomes, _ = apply_specs(path)
    assert all(o.ok for o in outcomes), outcomes
    by_hand = f"{name}-by-hand"  # a Secret block made outside pipeform
    secret_type = server("GET", "/block_types/slug/secret")
    schema = server(
        "POST", "/block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [secret_type["id"]]}}}
    )
    hand_value = f"hand-{uuid.uuid4().hex}"
    server(
        "POST",
        "/block_documents/",
        {
            "name": by_hand,
            "data": {"value": hand_value},
            "block_type_id": secret_type["id"],
            "block_schema_id": schema[0]["id"],
        },
    )
    out = tmp_path / "imported"
    result = cli("import", out, "--kind", "Block", "--kind", "Variable")
    assert result.exit_code == 0, result.output
    written = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert password not in written and hand_value not in written and password not in result.output
    assert f"name: {name}-pw" in written and f"name: {by_hand}" in written
    assert f"from_env: {name.upper()}_PW" in written and f"from_env: {by_hand.upper().replace('-', '_')}" in written
    assert "pipeform-secret-hash" not in written  # pipeform's bookkeeping is never imported
