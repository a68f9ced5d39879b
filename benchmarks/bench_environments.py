"""Figures: per-flow environments on a process worker.

    python benchmarks/bench_environments.py [--rounds 10]

1. Run overhead of a warm Environment: the same trivial flow deployed twice on one real
   process worker, once with an Environment (one small requirement, its venv already
   built) and once without; runs alternate (ABBA order). Each run's time is its PENDING -> COMPLETED
   span on the server (the worker's submission to the end of the run: the launcher, the
   venv's interpreter and Prefect's engine are inside it; the worker's polling interval is
   not), and its PENDING -> RUNNING span (process start to flow code: the part an
   Environment changes). Prints medians side by side (target: at most +1 s).
2. First creation of an Environment with one small requirement (six): the lock (uv pip
   compile) and the venv (uv venv + uv pip sync + pipeform), with uv's cache empty
   (a fresh UV_CACHE_DIR: every wheel downloaded) and warm (the same cache again, a new
   environments folder).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

FLOW = "from prefect import flow\n\n\n@flow\ndef trivial() -> int:\n    return 1\n"
SPECS = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: bench-envs}
spec: {}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: bench-envs}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: small}
spec: {python_requirements: [six]}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: with-env}
spec: {entrypoint: "trivial.py:trivial", environment: small, work_pool: {name: bench-envs}}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: without}
spec: {entrypoint: "trivial.py:trivial", work_pool: {name: bench-envs}}
"""


def _call(api: httpx.Client, method: str, path: str, **kw) -> object:
    """One request, retried while the SQLite server answers 503 under load."""
    for attempt in range(8):
        r = api.request(method, path, **kw)
        if r.status_code != 503:
            r.raise_for_status()
            return r.json()
        time.sleep(0.25 * 2**attempt)
    r.raise_for_status()
    return None


def _span(api: httpx.Client, run_id: str, timeout: float = 300) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _call(api, "GET", f"/flow_runs/{run_id}")["state"]
        if state["type"] == "COMPLETED":
            break
        if state["type"] in ("FAILED", "CRASHED", "CANCELLED"):
            raise RuntimeError(f"run {run_id} ended {state['type']}: {state.get('message')}")
        time.sleep(0.2)
    states = _call(api, "GET", "/flow_run_states/", params={"flow_run_id": run_id})
    at = {s["type"]: datetime.fromisoformat(s["timestamp"]) for s in states}
    return (at["COMPLETED"] - at["PENDING"]).total_seconds(), (at["RUNNING"] - at["PENDING"]).total_seconds()


def overhead(rounds: int, tmp: Path) -> None:
    from pipeform import server, worker
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project
    from pipeform.spec import load_project_or_raise

    specs = tmp / "specs"
    specs.mkdir(parents=True)
    (specs / "specs.yaml").write_text(SPECS)
    (specs / "trivial.py").write_text(FLOW)
    proc, info = server.start_server(tmp / "server")
    os.environ.update(PREFECT_API_URL=info.url, PREFECT_HOME=str(tmp / "client"))
    state = tmp / "worker"
    try:

        async def apply() -> None:
            async with ServerAPI.from_env() as api:
                await apply_project(api, load_project_or_raise([specs]), confirm=lambda p: True)

        asyncio.run(apply())
        worker.start_worker("bench-envs", info, state)
        api = httpx.Client(base_url=info.url, timeout=30)
        ids = {n: _call(api, "GET", f"/deployments/name/trivial/{n}")["id"] for n in ("with-env", "without")}

        def run(name: str) -> tuple[float, float]:
            return _span(api, _call(api, "POST", f"/deployments/{ids[name]}/create_flow_run", json={})["id"])

        cold, _ = run("with-env")  # builds the environment
        run("without")
        times: dict[str, list[float]] = {"with-env": [], "without": []}
        starts: dict[str, list[float]] = {"with-env": [], "without": []}
        for i in range(rounds):
            for name in times if i % 2 == 0 else reversed(times):  # ABBA: neither always goes first
                total, start = run(name)
                times[name].append(total)
                starts[name].append(start)
    finally:
        worker.stop_workers(state)
        server.stop_pid(proc.pid)
    med = {k: statistics.median(v) for k, v in times.items()}
    smed = {k: statistics.median(v) for k, v in starts.items()}
    print(f"run overhead, trivial flow, one process worker, {rounds} alternating rounds (PENDING -> COMPLETED):")
    for k, v in times.items():
        print(f"  {k:9s} median {med[k]:.2f}s  (runs: {', '.join(f'{x:.2f}' for x in v)})")
    print(f"  warm Environment overhead (median difference): {med['with-env'] - med['without']:+.2f}s (target <= +1 s)")
    print("  of which process start to flow code (PENDING -> RUNNING):")
    for k, v in starts.items():
        print(f"  {k:9s} median {smed[k]:.2f}s  (runs: {', '.join(f'{x:.2f}' for x in v)})")
    print(f"  median difference: {smed['with-env'] - smed['without']:+.2f}s")
    print(f"  first run, building the Environment: {cold:.2f}s")


def creation(tmp: Path) -> None:
    from pipeform.environments import lock, venvs

    os.environ["PIPEFORM_CACHE_DIR"] = str(tmp / "pf-cache")  # no cached lock
    for label in ("cold", "warm"):
        os.environ["UV_CACHE_DIR"] = str(tmp / "uv-cache")  # empty the first time
        os.environ["PIPEFORM_ENVIRONMENTS_DIR"] = str(tmp / f"envs-{label}")
        os.environ["PIPEFORM_CACHE_DIR"] = str(tmp / f"pf-cache-{label}")
        start = time.perf_counter()
        locked = lock.lock(lock.LockInput(requirements=("six",)))
        locked_s = time.perf_counter() - start
        start = time.perf_counter()
        venvs.ensure(locked)
        built_s = time.perf_counter() - start
        print(f"first creation, one small requirement (six), uv cache {label}: lock {locked_s:.2f}s + venv {built_s:.2f}s"
              f" = {locked_s + built_s:.2f}s ({len(locked.pins)} packages)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--skip-runs", action="store_true")
    ap.add_argument("--skip-create", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pipeform-bench-envs-"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not args.skip_create:
        creation(tmp / "create")
    if not args.skip_runs:
        os.environ["PIPEFORM_ENVIRONMENTS_DIR"] = str(tmp / "run-envs")
        os.environ.pop("UV_CACHE_DIR", None)
        overhead(args.rounds, tmp / "runs")


if __name__ == "__main__":
    sys.exit(main())
