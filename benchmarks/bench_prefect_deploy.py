"""Figure: pipeform against `prefect deploy --all` on the same 50 deployments, side by side
on one fresh local Prefect server (SQLite): first deploy, then a re-deploy with nothing changed.

    python benchmarks/bench_prefect_deploy.py [--deployments 50]

Both sides deploy an existing Python flow by entrypoint, to the same work pool, with one
cron schedule each. Writes are counted on pipeform's side by its API client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOW = """from prefect import flow


@flow
def hello(who: str = "world") -> str:
    return f"hello {who}"
"""


def write_projects(root: Path, n: int) -> tuple[Path, Path]:
    pf, py = root / "prefect-project", root / "pipeform-project"
    for d in (pf, py):
        d.mkdir(parents=True)
        (d / "flows.py").write_text(FLOW)
    lines = [
        "name: bench",
        "prefect-version: 3.8.8",
        "pull:",
        "  - prefect.deployments.steps.set_working_directory:",
        f"      directory: {pf}",
        "deployments:",
    ]
    for i in range(n):
        lines += [
            f"  - name: dep-{i}",
            "    entrypoint: flows.py:hello",
            "    parameters: {who: bench}",
            "    work_pool: {name: bench-pool}",
            "    schedules:",
            "      - cron: '0 * * * *'",
            "        slug: hourly",
        ]
    (pf / "prefect.yaml").write_text("\n".join(lines) + "\n")
    docs = ["apiVersion: pipeform/v1\nkind: Project\nmetadata: {name: bench}\nspec: {}\n"]
    for i in range(n):
        docs.append(
            "apiVersion: pipeform/v1\nkind: Deployment\n"
            f"metadata: {{name: dep-{i}}}\n"
            "spec:\n  entrypoint: flows.py:hello\n  flow_name: hello\n  work_pool: {name: bench-pool}\n"
            "  parameters: {who: bench}\n  schedules:\n    - {slug: hourly, cron: '0 * * * *'}\n"
        )
    (py / "specs.yaml").write_text("---\n".join(docs))
    return pf, py


def prefect_deploy(project: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], cwd=project, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"prefect deploy failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return elapsed


def pipeform_apply(project: Path) -> tuple[float, int]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pipeform", "apply", str(project), "--auto-approve"], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"pipeform apply failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return elapsed, out.stdout.count(": done")


def pipeform_noop_writes(project: Path) -> int:
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project
    from pipeform.spec import load_project_or_raise

    async def go() -> int:
        async with ServerAPI.from_env() as api:
            _, outcomes = await apply_project(api, load_project_or_raise([project]), confirm=lambda p: True)
            assert outcomes == ()
            return api.counters.writes

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployments", type=int, default=50)
    args = ap.parse_args()
    from pipeform import server

    tmp = Path(tempfile.mkdtemp(prefix="pipeform-bench-"))
    proc, info = server.start_server(tmp / "server")
    os.environ.update(
        PREFECT_API_URL=info.url, PREFECT_HOME=str(tmp / "client"), PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    try:
        import httpx

        httpx.post(f"{info.url}/work_pools/", json={"name": "bench-pool", "type": "process"}).raise_for_status()
        pf, py = write_projects(tmp, args.deployments)
        pd_first = prefect_deploy(pf)
        pd_again = prefect_deploy(pf)
        pipe_first, changed = pipeform_apply(py)
        pipe_again, _ = pipeform_apply(py)
        writes = pipeform_noop_writes(py)
    finally:
        server.stop_pid(proc.pid)
    n = args.deployments
    print(f"prefect deploy --all vs pipeform apply: {n} deployments, fresh SQLite server, whole CLI commands")
    print(f"  first deploy:   prefect {pd_first:.1f}s, pipeform {pipe_first:.1f}s ({changed} objects created)")
    print(
        f"  nothing changed: prefect {pd_again:.1f}s (updates all {n}), pipeform {pipe_again:.1f}s with {writes} writes"
    )
    print(f"  ratio no-op re-deploy prefect/pipeform = {pd_again / pipe_again:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
