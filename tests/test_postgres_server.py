"""A Prefect server on PostgreSQL (scripts/postgres.sh): real writes and reads of a work pool
and a deployment, and the rows really are in PostgreSQL.

Runs when PostgreSQL's binaries are installed, or with PIPEFORM_TEST_POSTGRES=1 (the script
then installs them). Under scripts/test-postgres.sh it reuses that run's database."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from pipeform import server

ROOT = Path(__file__).resolve().parent.parent
HAVE_PG = bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"))
WANTED = os.environ.get("PIPEFORM_TEST_POSTGRES") == "1" or bool(os.environ.get("PIPEFORM_TEST_DATABASE_URL"))

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not (HAVE_PG or WANTED),
        reason="PostgreSQL binaries are not installed (set PIPEFORM_TEST_POSTGRES=1 to install and run them)",
    ),
]


@pytest.fixture(scope="module")
def database_url():
    given = os.environ.get("PIPEFORM_TEST_DATABASE_URL")
    if given:
        yield given
        return
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/postgres.sh"), "start"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
    try:
        yield exports["PIPEFORM_TEST_DATABASE_URL"]
    finally:
        subprocess.run(["bash", str(ROOT / "scripts/postgres.sh"), "stop", exports["PIPEFORM_PG_DIR"]], timeout=60)


@pytest.fixture(scope="module")
def pg_server(database_url, tmp_path_factory):
    proc, info = server.start_server(tmp_path_factory.mktemp("pg-server"), database_url=database_url)
    try:
        yield info.url
    finally:
        server.stop_pid(proc.pid)


async def _rows(database_url: str, sql: str, *args: object) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def test_work_pool_and_deployment_round_trip_through_postgres(pg_server, database_url):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    api = httpx.Client(base_url=pg_server, timeout=30)

    pool = api.post("/work_pools/", json={"name": name, "type": "process", "concurrency_limit": 3})
    assert pool.status_code == 201, pool.text
    flow = api.post("/flows/", json={"name": name}).json()
    created = api.post(
        "/deployments/",
        json={
            "name": name,
            "flow_id": flow["id"],
            "work_pool_name": name,
            "parameters": {"n": 7},
            "tags": ["pg"],
            "schedules": [{"schedule": {"cron": "0 * * * *", "timezone": "UTC"}, "slug": "hourly"}],
        },
    )
    assert created.status_code in (200, 201), created.text

    read_pool = api.get(f"/work_pools/{name}").json()
    assert (read_pool["type"], read_pool["concurrency_limit"]) == ("process", 3)
    dep = api.get(f"/deployments/name/{name}/{name}").json()
    assert dep["id"] == created.json()["id"]
    assert dep["parameters"] == {"n": 7} and dep["work_pool_name"] == name and "pg" in dep["tags"]
    assert [s["slug"] for s in dep["schedules"]] == ["hourly"]

    # The server stored them in PostgreSQL, not in a SQLite file next to it.
    rows = asyncio.run(
        _rows(
            database_url,
            "select d.name, w.name from deployment d join work_queue q on q.id = d.work_queue_id join work_pool w on w.id = q.work_pool_id where d.id = $1",
            uuid.UUID(dep["id"]),
        )
    )
    assert rows == [(name, name)]
