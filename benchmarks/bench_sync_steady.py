"""The steady-state cost of `pipeform sync` with N owned deployments, against the CronJob
way (a full `pipeform apply` every minute), on one fresh local Prefect server:

  1. the controller's first cycle (fetch, load, apply N deployments);
  2. steady-state cycles with nothing changed: requests and seconds per cycle;
  3. a full no-op apply (what a CronJob runs each time): requests and seconds, in-process,
     and once as a fresh `pipeform apply` process (what a CronJob pod really pays);
  4. server CPU seconds per cycle / per apply (from /proc), and per hour at one pass a
     minute, the controller's leader-lease renewals (sync/leader.py) included;
  5. heal latency: a deployment PATCHed through the API, put back by --self-heal.

    python benchmarks/bench_sync_steady.py [--deployments 200] [--cycles 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import write_tree

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (the server is one process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def make_repo(tmp: Path, n: int, tasks: int) -> Path:
    work = tmp / "work"
    write_tree(work / "specs", n, tasks)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "bench")
    git(tmp, "clone", "-q", "--bare", str(work), str(tmp / "remote.git"))
    return tmp / "remote.git"


def requests(api) -> int:
    return api.counters.reads + api.counters.writes


async def bench(url: str, server_pid: int, remote: Path, tmp: Path, cycles: int) -> dict:
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project
    from pipeform.sync.controller import Controller, Options

    out: dict = {}
    async with ServerAPI(url) as api:
        ctl = Controller(Options(str(remote), path="specs", interval=60, self_heal=True), api, tmp / "state")
        start, r0 = time.perf_counter(), requests(api)
        await ctl.cycle()
        out["first"] = (time.perf_counter() - start, requests(api) - r0, ctl.last.outcome if ctl.last else "?")
        await ctl.cycle()  # the check after our own writes
        samples, cpu0 = [], cpu_seconds(server_pid)
        for _ in range(cycles):
            start, r0 = time.perf_counter(), requests(api)
            await ctl.cycle()
            samples.append((time.perf_counter() - start, requests(api) - r0))
        out["steady_cpu"] = (cpu_seconds(server_pid) - cpu0) / cycles
        out["steady"] = samples
        # the leader lease's renewals in an hour, as sync/leader.py sends them
        from pipeform.sync import leader

        lease = ctl.leadership.lease
        renewals = 3600 // leader.RENEW_SECONDS
        out["renew_requests_h"] = renewals + renewals // leader.NOTE_EVERY
        cpu0 = cpu_seconds(server_pid)
        for i in range(cycles):
            path = f"/v2/concurrency_limits/leases/{lease.lease_id}/renew"
            await api.request("POST", path, {"lease_duration": leader.LEASE_SECONDS})
            if i % leader.NOTE_EVERY == 0:
                await lease._write_holder()
        out["renew_cpu_h"] = (cpu_seconds(server_pid) - cpu0) / cycles * renewals

        project = ctl.good.project
        applies, cpu0 = [], cpu_seconds(server_pid)
        for _ in range(max(3, cycles // 3)):
            start, r0 = time.perf_counter(), requests(api)
            _, outcomes = await apply_project(api, project, confirm=lambda p: True)
            assert outcomes == (), outcomes
            applies.append((time.perf_counter() - start, requests(api) - r0))
        out["apply_cpu"] = (cpu_seconds(server_pid) - cpu0) / len(applies)
        out["apply"] = applies

        # heal latency: the real loop, woken by the server's event stream
        loop_task = asyncio.create_task(ctl.run())
        await asyncio.sleep(3)
        dep = await api.request("GET", "/deployments/name/flow-0/dep-0")
        start = time.perf_counter()
        await api.request("PATCH", f"/deployments/{dep['id']}", {"description": "by hand"})
        while (await api.request("GET", f"/deployments/{dep['id']}")).get("description") == "by hand":
            await asyncio.sleep(0.1)
            if time.perf_counter() - start > 120:
                break
        out["heal"] = time.perf_counter() - start
        ctl.stopping = True
        ctl.trigger()
        await loop_task
    return out


def cronjob_process(url: str, specs: Path, home: Path) -> float:
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(home)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeform", "apply", "--auto-approve", str(specs)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deployments", type=int, default=200)
    ap.add_argument("--tasks", type=int, default=3)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (scripts/postgres.sh); SQLite when absent.")
    args = ap.parse_args()
    from pipeform import server

    tmp = Path(tempfile.mkdtemp(prefix="pipeform-bench-sync-"))
    os.environ["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] = "false"  # API work only, as bench_reconcile_scale
    proc, info = server.start_server(tmp / "server-home", database_url=args.database_url)
    os.environ.update(
        PREFECT_API_URL=info.url, PREFECT_HOME=str(tmp / "client-home"), PIPEFORM_CACHE_DIR=str(tmp / "cache")
    )
    db = "PostgreSQL" if args.database_url else "SQLite"
    n = args.deployments
    print(f"{n} owned deployments (+ schedule each), {db} server, scheduler off", flush=True)
    try:
        remote = make_repo(tmp, n, args.tasks)
        r = asyncio.run(bench(info.url, proc.pid, remote, tmp, args.cycles))
        seconds, reqs, outcome = r["first"]
        print(f"  first sync (apply {n}):        {seconds:7.2f}s  {reqs} requests ({outcome})")
        st = [s for s, _ in r["steady"]]
        sq = [q for _, q in r["steady"]]
        print(
            f"  steady cycle, nothing changed: {statistics.median(st):7.3f}s median, {max(st):.3f}s max;"
            f" {statistics.median(sq):.0f} requests median, {max(sq)} max ({len(st)} cycles)"
        )
        at = [s for s, _ in r["apply"]]
        aq = [q for _, q in r["apply"]]
        print(
            f"  full no-op apply (in-process): {statistics.median(at):7.3f}s median; {statistics.median(aq):.0f} requests"
        )
        process = cronjob_process(info.url, tmp / "work" / "specs", tmp / "client-home")
        print(f"  full no-op apply (process):    {process:7.2f}s  (a fresh `pipeform apply`, as a CronJob pod)")
        print(
            f"  server CPU: {r['steady_cpu'] * 1000:.1f} ms per steady cycle, {r['renew_cpu_h']:.2f} s an hour of lease renewals,"
            f" {r['apply_cpu'] * 1000:.0f} ms per full no-op apply"
        )
        ctl_req_h = 60 * statistics.median(sq) + r["renew_requests_h"]
        job_req_h = 60 * statistics.median(aq)
        ctl_cpu_h = 60 * r["steady_cpu"] + r["renew_cpu_h"]
        job_cpu_h = 60 * r["apply_cpu"]
        print(
            f"  per hour at one pass a minute: controller {ctl_req_h:.0f} requests, {ctl_cpu_h:.1f} server CPU s"
            f" (renewals included) vs CronJob apply {job_req_h:.0f} requests, {job_cpu_h:.1f} server CPU s"
        )
        print(f"  heal latency (API PATCH -> put back by --self-heal): {r['heal']:.2f}s")
    finally:
        server.stop_pid(proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
