"""Local Prefect process workers for the embedded server, started in the background and
recorded in the state directory so `pipeform worker stop` can end them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from . import server


def _record(state: Path) -> Path:
    return state / "workers.json"


def _read(state: Path) -> dict[str, int]:
    try:
        return json.loads(_record(state).read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_worker(pool: str, info: server.ServerInfo, state: Path) -> int:
    """Start `prefect worker start --pool POOL --type process` detached; reuse a live one."""
    workers = _read(state)
    if pool in workers and _alive(workers[pool]):
        return workers[pool]
    state.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PREFECT_API_URL=info.url, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if info.home:
        env.setdefault("PREFECT_HOME", info.home)
    # Poll often so a triggered run starts within a couple of seconds.
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")
    log = open(state / f"worker-{pool}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers[pool] = proc.pid
    _record(state).write_text(json.dumps(workers))
    return proc.pid


def stop_workers(state: Path, pool: str | None = None) -> list[str]:
    workers = _read(state)
    stopped = []
    for name, pid in list(workers.items()):
        if pool is None or name == pool:
            server.stop_pid(pid)
            workers.pop(name)
            stopped.append(name)
    _record(state).write_text(json.dumps(workers)) if state.exists() else None
    return stopped
