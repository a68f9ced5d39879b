"""Local process workers against the session's real server: background start (registered
with the server, reused, stopped) and a foreground --run-once that executes a real run."""

from __future__ import annotations

import uuid

import httpx
import pytest

from pipeform import server, worker

pytestmark = pytest.mark.slow  # each starts a real `prefect worker` process


def test_background_worker_registers_is_reused_and_stops(prefect_api, tmp_path):
    info = server.ServerInfo(url=prefect_api, pid=None, home=None)
    state = tmp_path / "state"
    pool = f"w-{uuid.uuid4().hex[:8]}"
    pid, started = worker.start_worker(pool, info, state)
    try:
        assert started and worker.is_our_worker(pid, pool)
        # The worker created its process pool and registered itself with the server.
        assert httpx.get(f"{prefect_api}/work_pools/{pool}", timeout=10).json()["type"] == "process"
        assert httpx.post(f"{prefect_api}/work_pools/{pool}/workers/filter", json={}, timeout=10).json()
        assert worker.start_worker(pool, info, state) == (pid, False)
        assert worker.recorded_workers(state) == {pool: pid}
    finally:
        stopped = worker.stop_workers(state, pool)
    assert stopped == [pool]
    assert not server.pid_alive(pid)
    assert worker.recorded_workers(state) == {}


FLOW_FILE = """\
from prefect import flow


@flow
def shout(word: str) -> str:
    return word.upper()
"""


def test_cli_worker_run_once_executes_a_pending_run(cli, prefect_api, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    (tmp_path / "shout.py").write_text(FLOW_FILE)
    pool = f"once-{uuid.uuid4().hex[:8]}"
    api = httpx.Client(base_url=prefect_api, timeout=30)
    api.post("/work_pools/", json={"name": pool, "type": "process"}).raise_for_status()
    flow = api.post("/flows/", json={"name": "shout"}).json()
    dep = api.post(
        "/deployments/",
        json={
            "name": pool,
            "flow_id": flow["id"],
            "work_pool_name": pool,
            "entrypoint": "shout.py:shout",
            "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}}],
        },
    ).json()
    run = api.post(f"/deployments/{dep['id']}/create_flow_run", json={"parameters": {"word": "hi"}}).json()

    result = cli("worker", "start", "--pool", pool, "--run-once", "--state-dir", tmp_path / "state")

    assert result.exit_code == 0, result.output
    state = api.get(f"/flow_runs/{run['id']}").json()["state"]
    assert state["type"] == "COMPLETED", state
