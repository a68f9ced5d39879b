"""Local Prefect process workers (`prefect worker start --pool NAME --type process`) for the
embedded server or any configured one.

Background workers are recorded in the state directory (`workers.json`: pool -> pid,
log in `worker-POOL.log`) so `pipeform worker stop` and `pipeform server stop` can end
them; a foreground worker is simply a child process. Pure standard library, like server.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from . import server

READY_TIMEOUT_S = 60.0
# Where the repository holding the specs is checked out on this worker: pull steps of
# deployments without `source` read it (`{{ $PIPEFORM_REPO_ROOT }}/<project folder>`).
REPO_ROOT_ENV = "PIPEFORM_REPO_ROOT"


class WorkerStartError(RuntimeError):
    pass


def _record(state: Path) -> Path:
    return state / "workers.json"


def recorded_workers(state: Path) -> dict[str, int]:
    try:
        data = json.loads(_record(state).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def _write(state: Path, workers: dict[str, int]) -> None:
    tmp = _record(state).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(workers))
    os.replace(tmp, _record(state))


def is_our_worker(pid: int, pool: str) -> bool:
    return server.runs_command(pid, "prefect", "worker", "start", pool)


def log_path(state: Path, pool: str) -> Path:
    return state / f"worker-{pool}.log"


def worker_command(pool: str, run_once: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    return [*cmd, "--run-once"] if run_once else cmd


def worker_env(info: server.ServerInfo) -> dict[str, str]:
    env = dict(os.environ, PREFECT_API_URL=info.url, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if info.home:
        env.setdefault("PREFECT_HOME", info.home)
    # A deployment with an Environment runs `python -m pipeform.environments.launch`: that
    # `python` must be this interpreter (the one with pipeform), whatever PATH was.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    # Poll often so a triggered run starts within a couple of seconds (Prefect's default is 10 s).
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")
    env.setdefault(REPO_ROOT_ENV, repo_root(os.getcwd()))
    return env


def repo_root(folder: str) -> str:
    """The git repository containing `folder` (as checked out here), else the folder itself."""
    try:
        out = subprocess.run(
            ["git", "-C", folder, "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return folder
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else folder


def run_worker(pool: str, info: server.ServerInfo, run_once: bool = False) -> int:
    """A worker in the foreground (Ctrl-C reaches it: same process group). Its exit code."""
    try:
        return subprocess.call(worker_command(pool, run_once), env=worker_env(info))
    except KeyboardInterrupt:
        return 130


def _registered(api_url: str, pool: str) -> bool:
    """Has a worker of this pool sent its first heartbeat (so the pool exists too)?"""
    request = urllib.request.Request(
        f"{api_url}/work_pools/{urllib.parse.quote(pool, safe='')}/workers/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return bool(json.loads(resp.read()))
    except (OSError, ValueError):
        return False


def start_worker(pool: str, info: server.ServerInfo, state: Path, wait: bool = True) -> tuple[int, bool]:
    """Start a worker for `pool` detached, or reuse the live one. Returns (pid, started now).

    With `wait`, returns once the worker has registered with the server; a worker that
    exits first raises WorkerStartError naming its log."""
    with server.state_lock(state):
        workers = recorded_workers(state)
        pid = workers.get(pool)
        if pid is not None and is_our_worker(pid, pool):
            return pid, False
        log = log_path(state, pool)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                worker_command(pool),
                env=worker_env(info),
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        workers[pool] = proc.pid
        _write(state, workers)
    if wait:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _registered(info.url, pool):
            if proc.poll() is not None:
                stop_workers(state, pool)
                raise WorkerStartError(f"the worker for pool {pool!r} exited with code {proc.returncode} (log: {log})")
            if time.monotonic() > deadline:
                break  # still running, just slow: leave it be
            time.sleep(0.5)
    return proc.pid, True


def stop_workers(state: Path, pool: str | None = None) -> list[str]:
    """Stop the recorded workers (one pool's, or all); returns the pools stopped."""
    if not _record(state).exists():
        return []
    with server.state_lock(state):
        workers = recorded_workers(state)
        stopped = []
        for name, pid in list(workers.items()):
            if pool is not None and name != pool:
                continue
            if is_our_worker(pid, name):
                server.stop_pid(pid)
                stopped.append(name)
            workers.pop(name)  # a dead or reused pid: just forget it
        _write(state, workers)
    return stopped
