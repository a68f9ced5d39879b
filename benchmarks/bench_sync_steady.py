"""The steady-state cost of `pipeform sync` with N owned deployments, against the CronJob
way (a full `pipeform apply` every minute), on one fresh local Prefect server:

  1. the controller's first cycle (fetch, load, apply N deployments);
  2. steady-state cycles with nothing changed: requests and seconds per cycle;
  3. a full no-op apply (what a CronJob runs each time): requests and seconds, in-process,
     and once as a fresh `pipeform apply` process (what a CronJob pod really pays);
  4. server CPU seconds per cycle / per apply (from /proc), and per hour at one pass a
     minute, the controller's leader-lease renewals (sync/leader.py) included;
  5. one changed commit (one deployment's parameters): the controller's cycle that applies
     it, against the naive loop's `pipeform apply` of the same change (in-process and as a
     fresh process), side by side in the same run;
  6. heal latency: a deployment PATCHed through the API, put back by --self-heal.

CPU seconds are the server's (from /proc) and the client's (the controller or apply
process: process_time in-process, getrusage of the child for a fresh process).

    python benchmarks/bench_sync_steady.py [--deployments 200] [--cycles 10] [--database-url URL]
    eval "$(bash scripts/postgres.sh start)"   # PostgreSQL, as in production
    python benchmarks/bench_sync_steady.py --deployments 1000 --database-url "$PIPEFORM_TEST_DATABASE_URL"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
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


def change_one(tmp: Path, remote: Path, n: int) -> None:
    """Commit and push a change to one deployment's parameters (dep-0: n 5 -> 6)."""
    work = tmp / "work"
    f = work / "specs" / "flows-00000.yaml"
    text = f.read_text()
    f.write_text(text.replace(f"  parameters: {{n: {n}}}", f"  parameters: {{n: {n + 1}}}", 1))
    git(work, "commit", "-qam", f"dep-0 n={n + 1}")
    git(work, "push", "-q", str(remote), "main")


class Meter:
    """Wall seconds, requests, server CPU and this process's CPU of a block."""

    def __init__(self, api, server_pid: int):
        self.api, self.pid = api, server_pid

    def __enter__(self):
        self.t, self.r = time.perf_counter(), requests(self.api)
        self.s, self.c = cpu_seconds(self.pid), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t
        self.reqs = requests(self.api) - self.r
        self.server_cpu = cpu_seconds(self.pid) - self.s
        self.client_cpu = time.process_time() - self.c

    def row(self) -> tuple[float, int, float, float]:
        return self.wall, self.reqs, self.server_cpu, self.client_cpu


async def bench(url: str, server_pid: int, remote: Path, tmp: Path, cycles: int) -> dict:
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project
    from pipeform.spec import load_project_or_raise
    from pipeform.sync.controller import Controller, Options

    out: dict = {}
    async with ServerAPI(url) as api:
        ctl = Controller(Options(str(remote), path="specs", interval=60, self_heal=True), api, tmp / "state")
        with Meter(api, server_pid) as m:
            await ctl.cycle()
        ps = next(iter(ctl.projects.values()))
        out["first"] = (m.wall, m.reqs, ps.last.outcome if ps.last else "?")
        await ctl.cycle()  # the check after our own writes
        samples = []
        for _ in range(cycles):
            with Meter(api, server_pid) as m:
                await ctl.cycle()
            samples.append(m.row())
        out["steady"] = samples
        # the leader lease's renewals in an hour, as sync/leader.py sends them (renew + note)
        lease = ps.leadership.lease
        renewals = int(3600 // ps.leadership.renew_every)
        with Meter(api, server_pid) as m:
            for _ in range(cycles):
                await ps.leadership._beat(lease)
        out["renew_requests_h"] = m.reqs / cycles * renewals
        out["renew_cpu_h"] = m.server_cpu / cycles * renewals

        # the naive loop: a full no-op apply each time
        applies = []
        for _ in range(max(3, cycles // 3)):
            with Meter(api, server_pid) as m:
                _, outcomes = await apply_project(api, ps.good.project, confirm=lambda p: True)
            assert outcomes == (), outcomes
            applies.append(m.row())
        out["apply"] = applies

        # one changed commit: the controller's cycle, then the naive apply of the next change
        change_one(tmp, remote, 5)
        with Meter(api, server_pid) as m:
            await ctl.cycle()
        out["changed_sync"] = m.row()
        out["changed_sync_changes"] = ps.last.changes if ps.last else ()
        change_one(tmp, remote, 6)
        with Meter(api, server_pid) as m:
            project = load_project_or_raise([tmp / "work" / "specs"])
            _, outcomes = await apply_project(api, project, confirm=lambda p: True)
        out["changed_apply"] = m.row()
        out["changed_apply_changes"] = tuple(f"{o.action.value} {o.address}" for o in outcomes or ())
        await ctl.cycle()  # the controller catches up with that commit (nothing left to write)

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


def cronjob_process(url: str, specs: Path, home: Path, server_pid: int) -> tuple[float, float, float]:
    """A fresh `pipeform apply` process: wall seconds, server CPU, the process's CPU."""
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(home)}
    before, server0 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(server_pid)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeform", "apply", "--auto-approve", str(specs)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu_seconds(server_pid) - server0, client


def report(r: dict, n: int, process: tuple[float, float, float], changed_process: tuple[float, float, float]) -> None:
    med = statistics.median
    seconds, reqs, outcome = r["first"]
    print(f"  first sync (apply {n}):        {seconds:7.2f}s  {reqs} requests ({outcome})")
    st, sq, ss, sc = (list(col) for col in zip(*r["steady"], strict=True))
    print(
        f"  idle cycle (controller):       {med(st):7.3f}s median, {max(st):.3f}s max; {med(sq):.0f} requests"
        f" median, {max(sq)} max; server CPU {med(ss) * 1000:.0f} ms, controller CPU {med(sc) * 1000:.0f} ms"
        f" ({len(st)} cycles)"
    )
    at, aq, as_, ac = (list(col) for col in zip(*r["apply"], strict=True))
    print(
        f"  idle pass of the naive loop (full no-op apply, in-process): {med(at):7.3f}s; {med(aq):.0f} requests;"
        f" server CPU {med(as_) * 1000:.0f} ms, client CPU {med(ac) * 1000:.0f} ms"
    )
    print(
        f"  idle pass of the naive loop (fresh `pipeform apply` process): {process[0]:7.2f}s;"
        f" server CPU {process[1] * 1000:.0f} ms, process CPU {process[2] * 1000:.0f} ms"
    )
    for label, key in (("controller cycle", "changed_sync"), ("naive apply, in-process", "changed_apply")):
        row = r[key]
        print(
            f"  one changed commit, {label}: {row[0]:7.2f}s; {row[1]} requests;"
            f" server CPU {row[2] * 1000:.0f} ms, client CPU {row[3] * 1000:.0f} ms; {list(r[key + '_changes'])}"
        )
    print(
        f"  one changed commit, naive `pipeform apply` process: {changed_process[0]:7.2f}s;"
        f" server CPU {changed_process[1] * 1000:.0f} ms, process CPU {changed_process[2] * 1000:.0f} ms"
    )
    ctl_req_h = 60 * med(sq) + r["renew_requests_h"]
    ctl_cpu_h = 60 * med(ss) + r["renew_cpu_h"]
    print(
        f"  per hour at one pass a minute: controller {ctl_req_h:.0f} requests, {ctl_cpu_h:.1f} server CPU s,"
        f" {60 * med(sc):.1f} controller CPU s (lease renewals: {r['renew_requests_h']:.0f} requests,"
        f" {r['renew_cpu_h']:.1f} s) vs naive apply loop {60 * med(aq):.0f} requests, {60 * med(as_):.1f} server"
        f" CPU s, {60 * process[2]:.0f} CPU s of apply processes"
    )
    print(f"  heal latency (API PATCH -> put back by --self-heal): {r['heal']:.2f}s")


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
        process = cronjob_process(info.url, tmp / "work" / "specs", tmp / "client-home", proc.pid)
        change_one(tmp, remote, 7)
        changed_process = cronjob_process(info.url, tmp / "work" / "specs", tmp / "client-home", proc.pid)
        report(r, n, process, changed_process)
    finally:
        server.stop_pid(proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
