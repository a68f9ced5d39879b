"""Blocks on a fresh Prefect server of their own: no block type registered (block
auto-registration off) and no block document written yet, so pipeform's apply registers
the types and schemas of installed collections (prefect-docker, prefect-kubernetes) and
makes the server's very first block document writes, concurrently.

On PostgreSQL (scripts/test-postgres.sh) the server gets a new database of that cluster:
concurrent first block document writes race in Prefect's lazy creation of its encryption
key (see BlockKind._write_document); every document must be created and read back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform import server as pf_server
from pipeform.reconciler.render import plan_text

SECRETS = {f"PF_FRESH_S{i}": f"fresh-secret-{i}-{uuid.uuid4().hex[:6]}" for i in range(4)}
PASSWORD_VAR = "PF_FRESH_REGISTRY_PW"

SPECS = (
    "".join(
        f"apiVersion: pipeform/v1\nkind: Block\nmetadata: {{name: NAME-s{i}}}\n"
        f"spec: {{type: secret, data: {{value: {{from_env: PF_FRESH_S{i}}}}}}}\n---\n"
        for i in range(4)
    )
    + """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-registry}
spec:
  type: docker-registry-credentials
  data:
    username: robot
    password: {from_env: PF_FRESH_REGISTRY_PW}
    registry_url: registry.example.com:5000
---
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-cluster}
spec:
  type: kubernetes-cluster-config
  data:
    context_name: kind-test
    config:
      apiVersion: v1
      kind: Config
      current-context: kind-test
      contexts: [{name: kind-test, context: {cluster: kind-test, user: kind-test}}]
      clusters: [{name: kind-test, cluster: {server: "https://127.0.0.1:6443"}}]
      users: [{name: kind-test, user: {}}]
"""
)
COLLECTION_TYPES = {
    "docker-registry-credentials": "prefect_docker.credentials:DockerRegistryCredentials",
    "kubernetes-cluster-config": "prefect_kubernetes.credentials:KubernetesClusterConfig",
}


def _fresh_database(cluster_url: str) -> str:
    """A new, empty database on the cluster of `cluster_url` (postgresql+asyncpg://.../db)."""
    import asyncpg

    name = f"fresh_{uuid.uuid4().hex[:10]}"
    base = cluster_url.rsplit("/", 1)[0]

    async def create() -> None:
        conn = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return f"{base}/{name}"


@pytest.fixture(scope="module")
def fresh_api(tmp_path_factory):
    cluster = os.environ.get("PIPEFORM_TEST_DATABASE_URL")
    database_url = _fresh_database(cluster) if cluster else None  # else a new SQLite file
    saved = os.environ.get("PREFECT_SERVER_REGISTER_BLOCKS_ON_START")
    os.environ["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] = "false"  # server_env passes it on
    try:
        proc, info = pf_server.start_server(tmp_path_factory.mktemp("fresh-server"), database_url=database_url)
    finally:
        if saved is None:
            os.environ.pop("PREFECT_SERVER_REGISTER_BLOCKS_ON_START")
        else:
            os.environ["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] = saved
    try:
        yield info.url
    finally:
        pf_server.stop_pid(proc.pid)


def _checksum(class_path: str) -> str:
    import importlib

    module, _, name = class_path.partition(":")
    return getattr(importlib.import_module(module), name)._calculate_schema_checksum()


def test_first_block_writes_and_collection_types_on_a_fresh_server(tmp_path, monkeypatch, fresh_api):
    monkeypatch.setenv("PREFECT_API_URL", fresh_api)
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    password = f"registry-pw-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(PASSWORD_VAR, password)
    for slug in ["secret", *COLLECTION_TYPES]:  # the server really lacks them
        with pytest.raises(Exception, match="404"):
            server("GET", f"/block_types/slug/{slug}")
    assert server("POST", "/block_documents/filter", {}) == []  # no encryption key made yet

    path, name = project_dir(tmp_path, SPECS, prefix="fresh")
    plan, outcomes, _ = apply_specs(path)
    assert plan.errors == ()
    assert [o for o in outcomes if not o.ok] == []
    assert len(outcomes) == 6

    # every type and the installed class's exact schema were registered
    for slug, class_path in COLLECTION_TYPES.items():
        block_type = server("GET", f"/block_types/slug/{slug}")
        schema = server("GET", f"/block_schemas/checksum/{_checksum(class_path)}")
        assert schema["block_type_id"] == block_type["id"]
    # every document reads back (a document encrypted with a lost key answers 500 here)
    for i, value in enumerate(SECRETS.values()):
        doc = server("GET", f"/block_types/slug/secret/block_documents/name/{name}-s{i}?include_secrets=true")
        assert doc["data"] == {"value": value}
    registry = f"/block_types/slug/docker-registry-credentials/block_documents/name/{name}-registry"
    assert server("GET", registry)["data"]["password"] != password  # obfuscated without include_secrets
    stored = server("GET", registry + "?include_secrets=true")["data"]
    assert stored == {"username": "robot", "password": password, "registry_url": "registry.example.com:5000"}
    cluster = server("GET", f"/block_types/slug/kubernetes-cluster-config/block_documents/name/{name}-cluster")
    assert cluster["data"]["context_name"] == "kind-test"
    assert cluster["data"]["config"]["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"

    # Prefect's own classes load them (what a flow or worker does with these blocks)
    probe = (
        "import sys\n"
        "from prefect_docker.credentials import DockerRegistryCredentials as D\n"
        "from prefect_kubernetes.credentials import KubernetesClusterConfig as K\n"
        f"d = D.load('{name}-registry')\n"
        f"k = K.load('{name}-cluster')\n"
        "print(d.username, d.registry_url, d.password.get_secret_value() == sys.argv[1], k.context_name)\n"
    )
    env = {**os.environ, "PREFECT_API_URL": fresh_api, "PREFECT_HOME": str(tmp_path / "probe-home")}
    out = subprocess.run([sys.executable, "-c", probe, password], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["robot", "registry.example.com:5000", "True", "kind-test"]
    assert password not in out.stdout + out.stderr

    assert plan_specs(path).pending == ()
    # a changed password: a masked in-place update, never printed
    monkeypatch.setenv(PASSWORD_VAR, password + "-rotated")
    changed = plan_specs(path)
    assert [c.address for c in changed.pending] == [f"block.docker-registry-credentials/{name}-registry"]
    text = plan_text(changed)
    assert password not in text and "(sensitive)" in text
    _, outcomes, _ = apply_specs(path)
    assert [o.ok for o in outcomes] == [True]
    assert server("GET", registry + "?include_secrets=true")["data"]["password"] == password + "-rotated"
