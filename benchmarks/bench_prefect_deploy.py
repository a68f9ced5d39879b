"""Baseline: `prefect deploy --all` against `pipeform apply` on equivalent deployments,
side by side on one fresh local Prefect server (SQLite, `pipeform.server.start_server`
in a temporary home): a first deploy, then a re-deploy with nothing changed.

    python benchmarks/bench_prefect_deploy.py [--deployments 50] [--skip-pipeform]

Both sides deploy the same trivial Python flow by entrypoint, to the same process work
pool, with the same parameters and one cron schedule each; their deployment names differ
so they never touch each other's objects. Whole CLI commands are timed (a fresh Python
process each, as a user runs them). "Writes" are observed on the server, not assumed:
deployments whose `updated` timestamp moved during the re-deploy. pipeform's no-op is
also run in-process through `pipeform.reconciler.engine.apply_project`, whose API client
counts every write request it sends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

POOL = "bench-pool"
FLOW_FILE = """from prefect import flow


@flow
def hello(who: str = "world") -> str:
    return f"hello {who}"
"""


@dataclass(frozen=True)
class Timed:
    seconds: float
    updated: int  # deployments of that side whose `updated` moved


def write_prefect_project(root: Path, n: int) -> Path:
    """A prefect.yaml complete enough that `prefect --no-prompt deploy --all` asks nothing."""
    root.mkdir(parents=True)
    (root / "flows.py").write_text(FLOW_FILE)
    lines = [
        "name: bench",
        "prefect-version: 3.8.8",
        "build: null",
        "push: null",
        "pull:",
        "  - prefect.deployments.steps.set_working_directory:",
        f"      directory: {root}",
        "deployments:",
    ]
    for i in range(n):
        lines += [
            f"  - name: prefect-{i}",
            "    entrypoint: flows.py:hello",
            "    parameters: {who: bench}",
            f"    work_pool: {{name: {POOL}}}",
            "    schedules:",
            "      - {cron: '0 * * * *', timezone: UTC, slug: hourly}",
        ]
    (root / "prefect.yaml").write_text("\n".join(lines) + "\n")
    return root


def write_pipeform_project(root: Path, n: int) -> Path:
    """The equivalent pipeform Deployment documents (entrypoint deployments, same pool)."""
    root.mkdir(parents=True)
    (root / "flows.py").write_text(FLOW_FILE)
    docs = ["apiVersion: pipeform/v1\nkind: Project\nmetadata: {name: bench}\nspec: {}\n"]
    for i in range(n):
        docs.append(
            "apiVersion: pipeform/v1\nkind: Deployment\n"
            f"metadata: {{name: pipeform-{i}}}\n"
            "spec:\n"
            "  entrypoint: flows.py:hello\n"
            f"  work_pool: {{name: {POOL}}}\n"
            "  parameters: {who: bench}\n"
            "  schedules:\n"
            "    - {slug: hourly, cron: '0 * * * *', timezone: UTC}\n"
        )
    (root / "specs.yaml").write_text("---\n".join(docs))
    return root


def updated_stamps(api_url: str, prefix: str) -> dict[str, str]:
    import httpx

    stamps: dict[str, str] = {}
    offset = 0
    while True:
        body = {"limit": 200, "offset": offset, "deployments": {"name": {"like_": prefix}}}
        page = httpx.post(f"{api_url}/deployments/filter", json=body, timeout=60).json()
        stamps.update({d["name"]: d["updated"] for d in page if d["name"].startswith(prefix)})
        if len(page) < 200:
            return stamps
        offset += 200


def timed_command(cmd: list[str], cwd: Path, api_url: str, prefix: str, expect: int) -> Timed:
    before = updated_stamps(api_url, prefix)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    after = updated_stamps(api_url, prefix)
    if len(after) != expect:
        raise SystemExit(f"{' '.join(cmd)}: expected {expect} deployments named {prefix}*, found {len(after)}")
    return Timed(seconds, sum(1 for k, v in after.items() if before.get(k) != v))


def prefect_deploy(project: Path, api_url: str, n: int) -> Timed:
    cmd = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"]
    return timed_command(cmd, project, api_url, "prefect-", n)


def pipeform_apply(project: Path, api_url: str, n: int) -> Timed:
    cmd = [sys.executable, "-m", "pipeform", "apply", str(project), "--auto-approve"]
    return timed_command(cmd, project, api_url, "pipeform-", n)


def pipeform_noop_in_process(project: Path) -> tuple[float, int, int]:
    """(seconds, pending changes, write requests) of one in-process no-op apply."""
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project
    from pipeform.spec import load_project_or_raise

    async def go() -> tuple[float, int, int]:
        start = time.perf_counter()
        loaded = load_project_or_raise([project])
        async with ServerAPI.from_env() as api:
            plan, _ = await apply_project(api, loaded, confirm=lambda p: True)
            return time.perf_counter() - start, len(plan.pending), api.counters.writes

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deployments", type=int, default=50)
    ap.add_argument("--skip-pipeform", action="store_true", help="Only the prefect deploy baseline.")
    args = ap.parse_args()
    n = args.deployments
    from pipeform import server

    tmp = Path(tempfile.mkdtemp(prefix="pipeform-bench-deploy-"))
    setup = time.perf_counter()
    proc, info = server.start_server(tmp / "server-home")
    setup = time.perf_counter() - setup
    # Every child (prefect deploy, pipeform apply) talks to this server, never starts its own.
    # pipeform's disk cache starts empty (the first apply fills it, as a user's first run would).
    os.environ.update(
        PREFECT_API_URL=info.url,
        PREFECT_HOME=str(tmp / "client-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PIPEFORM_CACHE_DIR=str(tmp / "pipeform-cache"),
    )
    print(f"{n} deployments, fresh local Prefect server on SQLite (ready after {setup:.1f}s); whole CLI commands")
    try:
        import httpx

        httpx.post(f"{info.url}/work_pools/", json={"name": POOL, "type": "process"}, timeout=30).raise_for_status()
        prefect_dir = write_prefect_project(tmp / "prefect-project", n)
        pd_first = prefect_deploy(prefect_dir, info.url, n)
        report("prefect deploy --all, first time", pd_first)
        pd_again = prefect_deploy(prefect_dir, info.url, n)
        report("prefect deploy --all, nothing changed", pd_again)
        if args.skip_pipeform:
            return
        pipeform_dir = write_pipeform_project(tmp / "pipeform-project", n)
        report("pipeform apply, first time", pipeform_apply(pipeform_dir, info.url, n))
        pf_again = pipeform_apply(pipeform_dir, info.url, n)
        report("pipeform apply, nothing changed", pf_again)
        os.environ["PIPEFORM_CACHE_DIR"] = "off"  # as after a change to a flow file: Prefect imported
        pf_cold = pipeform_apply(pipeform_dir, info.url, n)
        os.environ["PIPEFORM_CACHE_DIR"] = str(tmp / "pipeform-cache")
        report("pipeform apply, nothing changed, no cache", pf_cold)
        noop_s, pending, writes = pipeform_noop_in_process(pipeform_dir)
        print(f"  {'pipeform no-op apply, in-process':40} {noop_s:6.2f}s  ({pending} changes, {writes} write requests)")
        print(
            f"  no-op re-deploy ratio prefect/pipeform: CLI {pd_again.seconds / pf_again.seconds:.1f}x"
            f" (no cache {pd_again.seconds / pf_cold.seconds:.1f}x), "
            f"in-process {pd_again.seconds / noop_s:.1f}x (target >= 10x, zero writes)"
        )
    finally:
        server.stop_pid(proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)


def report(label: str, t: Timed) -> None:
    print(f"  {label:40} {t.seconds:6.1f}s  ({t.updated} deployments written)", flush=True)


if __name__ == "__main__":
    main()
