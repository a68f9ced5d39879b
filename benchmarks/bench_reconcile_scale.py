"""Figures: reconciling 1,000 deployments against a real Prefect server (SQLite), each
measured side by side with the raw server calls doing the same work in the same run:

  1. no-op plan  vs  the server listing the deployments (POST /deployments/filter, pages of 200)
  2. first apply vs  raw create calls (flow, deployment, schedule) at the same concurrency (4)

    eval "$(bash scripts/postgres.sh start)"   # SQLite answers 503s under concurrent creates
    python benchmarks/bench_reconcile_scale.py [--deployments 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import write_tree

CONCURRENCY = 4


async def raw_creates(url: str, n: int) -> tuple[float, int]:
    """The same objects created with bare API calls (same client, same retry policy on the
    SQLite server's 503s), no planning and no bookkeeping."""
    from pipeform.reconciler.api import ServerAPI

    async with ServerAPI(url, concurrency=CONCURRENCY) as api:

        async def one(i: int) -> None:
            flow = await api.request("POST", "/flows/", {"name": f"raw-flow-{i}"})
            dep = await api.request(
                "POST",
                "/deployments/",
                {"name": f"raw-{i}", "flow_id": flow["id"], "work_pool_name": "bench-pool", "parameters": {"n": 5}},
            )
            body = [{"schedule": {"cron": "0 * * * *", "timezone": "UTC"}, "active": True, "slug": "hourly"}]
            await api.request("POST", f"/deployments/{dep['id']}/schedules", body)

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - start, api.counters.retries


async def raw_listing(url: str) -> tuple[float, int]:
    from pipeform.reconciler.api import ServerAPI

    async with ServerAPI(url) as api:
        start = time.perf_counter()
        items = await api.all("/deployments/filter")
        return time.perf_counter() - start, len(items)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployments", type=int, default=1000)
    ap.add_argument(
        "--database-url",
        default=os.environ.get("PIPEFORM_TEST_DATABASE_URL"),
        help="PostgreSQL URL (scripts/postgres.sh); SQLite when empty",
    )
    args = ap.parse_args()
    from pipeform import server

    tmp = Path(tempfile.mkdtemp(prefix="pipeform-bench-"))
    # Measure API work only: the scheduler would create runs for every new schedule while
    # both sides write, and SQLite answers 503 under that contention.
    os.environ["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] = "false"
    proc, info = server.start_server(tmp / "server", database_url=args.database_url)
    os.environ.update(PREFECT_API_URL=info.url, PREFECT_HOME=str(tmp / "client"))
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project, plan_project
    from pipeform.spec import load_project_or_raise

    try:
        project = load_project_or_raise([write_tree(tmp / "specs", args.deployments, 3)])
        import httpx

        httpx.post(f"{info.url}/work_pools/", json={"name": "bench-pool", "type": "process"}).raise_for_status()

        async def apply() -> tuple[float, int]:
            async with ServerAPI(info.url, concurrency=CONCURRENCY) as api:
                start = time.perf_counter()
                _plan, outcomes = await apply_project(api, project, confirm=lambda p: True, adopt=True)
                assert outcomes and all(o.ok for o in outcomes), [o for o in outcomes or () if not o.ok][:3]
                return time.perf_counter() - start, api.counters.writes

        raw_create_s, raw_retries = asyncio.run(raw_creates(info.url, args.deployments))
        apply_s, writes = asyncio.run(apply())

        async def noop() -> tuple[float, int, int]:
            async with ServerAPI(info.url) as api:
                start = time.perf_counter()
                plan, _ = await plan_project(api, project)
                return time.perf_counter() - start, len(plan.pending), api.counters.writes

        list_s, listed = asyncio.run(raw_listing(info.url))
        plan_s, pending, plan_writes = asyncio.run(noop())
        list2_s, _ = asyncio.run(raw_listing(info.url))
    finally:
        server.stop_pid(proc.pid)
    listing = min(list_s, list2_s)
    db = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"reconcile at scale: {args.deployments} deployments (each with a flow and a schedule), {db} server, concurrency {CONCURRENCY}"
    )
    print(
        f"  first apply {apply_s:.1f}s ({writes} writes) vs raw creates {raw_create_s:.1f}s ({raw_retries} retried 503s): ratio {apply_s / raw_create_s:.2f} (target <= 1.25)"
    )
    print(
        f"  no-op plan {plan_s:.2f}s ({pending} changes, {plan_writes} writes) vs listing {listed} deployments {listing:.2f}s: ratio {plan_s / listing:.2f} (target <= 1.25)"
    )


if __name__ == "__main__":
    main()
