"""Reconciling 1,000 deployments, each figure side by side with the raw server calls that do
the same work, in the same run, on one fresh local Prefect server:

  1. pipeform's first apply   vs  raw create calls (flow, deployment, schedule per deployment)
     at the same concurrency (4), through the same HTTP client and retry policy;
  2. pipeform's no-op plan    vs  the server's raw listing of those N deployments
     (POST /deployments/filter on pipeform's ownership tag, paged by 200, the server's
     maximum). The listing of every deployment on the server (2N) is printed too.

    python benchmarks/bench_reconcile_scale.py [--deployments 1000] [--database-url URL]
    # on PostgreSQL:  eval "$(bash scripts/postgres.sh start)"; python benchmarks/bench_reconcile_scale.py \
    #                     --database-url "$PIPEFORM_TEST_DATABASE_URL"; bash scripts/postgres.sh stop

The scheduler service is off so that both sides measure API work, not the scheduler filling
runs for 2,000 new schedules at the same time. Both sides' objects stay on the server:
pipeform's plan reads only what its project can own, so its baseline is the listing of the
same N deployments, not of all 2N.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import write_tree

CONCURRENCY = 4
RAW_POOL = "raw-pool"


async def raw_creates(url: str, n: int) -> tuple[float, int, int]:
    """(seconds, write requests, retried transient errors) for n deployments made bare."""
    from pipeform.reconciler.api import ServerAPI

    async with ServerAPI(url, concurrency=CONCURRENCY) as api:
        await api.request("POST", "/work_pools/", {"name": RAW_POOL, "type": "process"})

        async def one(i: int) -> None:
            flow = await api.request("POST", "/flows/", {"name": f"raw-flow-{i}"})
            body = {
                "name": f"raw-{i}",
                "flow_id": flow["id"],
                "work_pool_name": RAW_POOL,
                "entrypoint": f"raw_{i}.py:main",
                "parameters": {"n": 5},
                "tags": ["raw"],
                "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": "/tmp"}}],
            }
            dep = await api.request("POST", "/deployments/", body)
            schedule = {"schedule": {"cron": "0 * * * *", "timezone": "UTC"}, "active": True, "slug": "hourly"}
            await api.request("POST", f"/deployments/{dep['id']}/schedules", [schedule])

        writes = api.counters.writes
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - start, api.counters.writes - writes, api.counters.retries


async def raw_listing(url: str, body: dict | None = None) -> tuple[float, int]:
    from pipeform.reconciler.api import ServerAPI

    async with ServerAPI(url) as api:
        start = time.perf_counter()
        items = await api.all("/deployments/filter", body)
        return time.perf_counter() - start, len(items)


async def pipeform_apply(url: str, project) -> tuple[float, int, int, int]:
    """(seconds, changes applied, write requests, retries) of a first apply."""
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project

    async with ServerAPI(url, concurrency=CONCURRENCY) as api:
        start = time.perf_counter()
        _, outcomes = await apply_project(api, project, confirm=lambda p: True)
        seconds = time.perf_counter() - start
        failed = [o for o in outcomes or () if not o.ok]
        if outcomes is None or failed:
            raise SystemExit(f"pipeform apply failed: {failed[:3]}")
        return seconds, len(outcomes), api.counters.writes, api.counters.retries


async def pipeform_noop_plan(url: str, project) -> tuple[float, int, int]:
    """(seconds, pending changes, write requests) of a plan against an up-to-date server."""
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import plan_project

    async with ServerAPI(url) as api:
        start = time.perf_counter()
        plan, _ = await plan_project(api, project)
        return time.perf_counter() - start, len(plan.pending), api.counters.writes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deployments", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=3, help="Tasks per generated Flow document.")
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (scripts/postgres.sh); SQLite when absent.")
    args = ap.parse_args()
    n = args.deployments
    from pipeform import server

    tmp = Path(tempfile.mkdtemp(prefix="pipeform-bench-scale-"))
    os.environ["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] = "false"  # inherited by the server only
    proc, info = server.start_server(tmp / "server-home", database_url=args.database_url)
    os.environ.update(PREFECT_API_URL=info.url, PREFECT_HOME=str(tmp / "client-home"))
    db = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{n} deployments (flow + deployment + schedule each), {db} server, concurrency {CONCURRENCY}", flush=True)
    try:
        from pipeform.spec import load_project_or_raise

        project = load_project_or_raise([write_tree(tmp / "specs", n, args.tasks)])
        raw_s, raw_writes, raw_retries = asyncio.run(raw_creates(info.url, n))
        print(f"  raw creates:        {raw_s:7.1f}s  {raw_writes} writes, {raw_retries} retried", flush=True)
        apply_s, changes, writes, retries = asyncio.run(pipeform_apply(info.url, project))
        print(
            f"  pipeform apply:     {apply_s:7.1f}s  {changes} changes, {writes} writes, {retries} retried"
            f"  -> ratio to raw {apply_s / raw_s:.2f}",
            flush=True,
        )
        own = {"deployments": {"tags": {"all_": ["pipeform:bench"]}}}
        list_s, listed = asyncio.run(raw_listing(info.url, own))
        plan_s, pending, plan_writes = asyncio.run(pipeform_noop_plan(info.url, project))
        list2_s, _ = asyncio.run(raw_listing(info.url, own))  # listed before and after: take the best
        listing = min(list_s, list2_s)
        all_s, everything = asyncio.run(raw_listing(info.url))
        print(f"  raw listing, all:   {all_s:7.2f}s  {everything} deployments (for reference)")
        print(f"  raw listing, own:   {listing:7.2f}s  {listed} deployments (best of {list_s:.2f}s, {list2_s:.2f}s)")
        print(
            f"  pipeform no-op plan:{plan_s:7.2f}s  {pending} changes, {plan_writes} writes"
            f"  -> ratio to listing its own {plan_s / listing:.2f}"
        )
    finally:
        server.stop_pid(proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
