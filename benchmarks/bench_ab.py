"""A/B: the benchmark workloads for two versions of pipeform, interleaved in one run.

    python benchmarks/bench_ab.py [--base 4e98464] [--new WORKTREE|REV] [--rounds 7]
                                  [--flows 1000] [--cli-flows 200] [--deployments 50]
                                  [--only validate,compile,...]

Each version runs from a tree of symlinks named as the installed packages
(`pipeform.<folder>` -> that version's folder, as scripts/typecheck.py lays out), put first
on PYTHONPATH so it shadows the editable install; both use this venv's dependencies, so only
pipeform's code differs. `--base` (a commit) and `--new` (a commit, or a checkout; default:
this one) are checked out with `git worktree add` into a temporary folder. Every measurement
is a fresh Python process; the rounds run A B, B A, A B ... so the machine's load falls on
both alike. Reported per workload: the median wall time and CPU time (user + system of the
child) of each side and the ratio new/base (> 1: new is slower).

Workloads (the inputs are generated once and shared: same files for both sides):
- validate:    in-process `load_project` of --flows flows x 10 tasks + a Deployment each (no
               disk cache, as bench_validate.py's figure); time of the call only.
- compile:     in-process `compile_project` of the same tree into prefect.Flow objects
               (bench_compile.py's figure); time of the call only (specs loaded before).
- emit:        in-process `emit_python` of every flow of the tree; time of the loop only.
               (The three in-process workloads start their timer after a gc.collect().)
- validate-cli: `pipeform validate` of --cli-flows flows, whole command (a user's run).
- emit-cli:    `pipeform compile --emit python OUT` of --cli-flows flows, whole command.
- plan-cli / apply-cli: `pipeform plan` and `pipeform apply --auto-approve` with nothing to
               change, --deployments entrypoint deployments (bench_prefect_deploy.py's
               project) on one local Prefect server; each side has its own project, its own
               disk cache (warmed by its first apply) and reads only its own objects.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from bench_prefect_deploy import POOL, write_pipeform_project
from generate import write_tree
from typecheck import shadow_tree

REPO = Path(__file__).resolve().parent.parent

# In-process workloads: the child prints {"wall": s, "cpu": s} of the measured call only.
# gc.collect() first: a full collection owed by what ran before (imports, load_project: ~240k
# live objects, ~0.13 s) would otherwise land in the measured call or not depending on where
# that code's last one fell, i.e. on the version's allocation history, not on the call.
VALIDATE = """
import gc, json, sys, time
from pipeform.spec import load_project
gc.collect()
w, c = time.perf_counter(), time.process_time()
project, diagnostics = load_project([sys.argv[1]])
w, c = time.perf_counter() - w, time.process_time() - c
assert project is not None, diagnostics[:3]
print(json.dumps({"wall": w, "cpu": c}))
"""
COMPILE = """
import gc, json, sys, time
import prefect  # import time is not compile time
from pipeform.compiler.build import compile_project
from pipeform.spec import load_project
project, diagnostics = load_project([sys.argv[1]])
assert project is not None, diagnostics[:3]
gc.collect()
w, c = time.perf_counter(), time.process_time()
flows = compile_project(project)
w, c = time.perf_counter() - w, time.process_time() - c
assert len(flows) == len(project.flows)
print(json.dumps({"wall": w, "cpu": c}))
"""
EMIT = """
import gc, json, sys, time
from pipeform.compiler import lower
from pipeform.compiler.emit import emit_python
from pipeform.spec import load_project
project, diagnostics = load_project([sys.argv[1]])
assert project is not None, diagnostics[:3]
gc.collect()
w, c = time.perf_counter(), time.process_time()
n = sum(len(emit_python(lower(project, name), project.origin)) for name in project.flows)
w, c = time.perf_counter() - w, time.process_time() - c
assert n > 0
print(json.dumps({"wall": w, "cpu": c}))
"""


@dataclass
class Side:
    label: str
    root: Path  # the checkout
    tree: Path  # the symlink tree put on PYTHONPATH
    cache: Path
    project: Path | None = None
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        path = os.pathsep.join([str(self.tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return {**os.environ, "PYTHONPATH": path, "PIPEFORM_CACHE_DIR": str(self.cache), **extra}


def checkout(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), rev], check=True, capture_output=True
    )
    return into


def check_shadowing(side: Side, cwd: Path) -> None:
    """Each side imports its own code (not the editable install, not a `pipeform/` in the cwd)."""
    code = "import os, pipeform.spec, pipeform.compiler; print(os.path.realpath(pipeform.spec.__file__))"
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=side.env(), capture_output=True, text=True)
    if not out.stdout.strip().startswith(str(side.root.resolve())):
        raise SystemExit(f"[{side.label}] imports pipeform.spec from {out.stdout.strip() or out.stderr[-500:]}")


def run(side: Side, cmd: list[str], cwd: Path, in_process: bool, **extra: str) -> tuple[float, float]:
    """(wall, cpu) of one fresh process (or of its measured call, for in-process workloads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=side.env(**extra), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(
            f"[{side.label}] {' '.join(cmd)} exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        )
    if in_process:
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        return figures["wall"], figures["cpu"]
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def workloads(args: argparse.Namespace, big: Path, small: Path, out: Path) -> dict[str, object]:
    py = sys.executable
    cli = [py, "-m", "pipeform"]
    table: dict[str, object] = {
        "validate": lambda s: run(s, [py, "-c", VALIDATE, str(big)], big, True, PIPEFORM_CACHE_DIR="off"),
        "compile": lambda s: run(s, [py, "-c", COMPILE, str(big)], big, True, PIPEFORM_CACHE_DIR="off"),
        "emit": lambda s: run(s, [py, "-c", EMIT, str(big)], big, True, PIPEFORM_CACHE_DIR="off"),
        "validate-cli": lambda s: run(s, [*cli, "validate", str(small)], small, False),
        "emit-cli": lambda s: run(
            s, [*cli, "compile", "--emit", "python", str(out / s.label), str(small)], small, False
        ),
        "plan-cli": lambda s: run(s, [*cli, "plan", str(s.project)], s.project, False),
        "apply-cli": lambda s: run(s, [*cli, "apply", str(s.project), "--auto-approve"], s.project, False),
    }
    return {k: v for k, v in table.items() if not args.only or k in args.only}


def server_project(side: Side, tmp: Path, n: int) -> Path:
    """The side's own project (its name and deployment names carry the side's label), applied once."""
    project = write_pipeform_project(tmp / f"project-{side.label}", n)
    specs = project / "specs.yaml"
    text = specs.read_text().replace("metadata: {name: bench}", f"metadata: {{name: bench-{side.label}}}")
    specs.write_text(text.replace("name: pipeform-", f"name: {side.label}-"))
    side.project = project
    run(side, [sys.executable, "-m", "pipeform", "apply", str(project), "--auto-approve"], project, False)
    return project


def report(sides: tuple[Side, Side], names: list[str]) -> None:
    a, b = sides
    print(f"\nmedians over {len(next(iter(a.samples.values())))} rounds; ratio = {b.label}/{a.label} (> 1: slower)")
    print(
        f"  {'workload':14} {'wall ' + a.label:>12} {'wall ' + b.label:>12} {'ratio':>6}   {'cpu ' + a.label:>11} {'cpu ' + b.label:>11} {'ratio':>6}"
    )
    for name in names:
        wa, ca = (statistics.median(x) for x in zip(*a.samples[name], strict=True))
        wb, cb = (statistics.median(x) for x in zip(*b.samples[name], strict=True))
        print(f"  {name:14} {wa:11.3f}s {wb:11.3f}s {wb / wa:6.3f}   {ca:10.3f}s {cb:10.3f}s {cb / ca:6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--base",
        default="4e98464",
        help="Commit of the version measured against (default: the parent of the reconciler/kinds commit).",
    )
    ap.add_argument("--new", default=str(REPO), help="A checkout (folder) or a commit; default: this checkout.")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--flows", type=int, default=1000)
    ap.add_argument("--cli-flows", type=int, default=200)
    ap.add_argument("--deployments", type=int, default=50)
    ap.add_argument("--only", type=lambda s: s.split(","), default=None, help="Comma-separated workloads.")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the server and removes checkouts
    tmp = Path(tempfile.mkdtemp(prefix="pipeform-bench-ab-"))
    worktrees: list[Path] = []
    proc = None
    try:
        roots = []
        for label, rev in (("base", args.base), ("new", args.new)):
            if Path(rev).is_dir():
                roots.append((label, Path(rev).resolve()))
            else:
                worktrees.append(checkout(rev, tmp / f"checkout-{label}"))
                roots.append((label, worktrees[-1]))
        sides = tuple(
            Side(label, root, shadow_tree(tmp / f"tree-{label}", root), tmp / f"cache-{label}") for label, root in roots
        )
        for side in sides:
            rev = subprocess.run(
                ["git", "-C", str(side.root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(side.root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            print(f"{side.label}: {side.root} at {rev}{' (+ uncommitted changes)' if dirty else ''}")
            check_shadowing(side, tmp)
        big = write_tree(tmp / "big", args.flows, 10)
        small = write_tree(tmp / "small", args.cli_flows, 10)
        table = workloads(args, big, small, tmp / "emitted")
        if {"plan-cli", "apply-cli"} & set(table):
            from pipeform import server

            proc, info = server.start_server(tmp / "server-home")
            os.environ.update(
                PREFECT_API_URL=info.url,
                PREFECT_HOME=str(tmp / "client-home"),
                PREFECT_SERVER_ANALYTICS_ENABLED="false",
            )
            import httpx

            httpx.post(f"{info.url}/work_pools/", json={"name": POOL, "type": "process"}, timeout=30).raise_for_status()
            for side in sides:
                server_project(side, tmp, args.deployments)
        for side in sides:  # warm-up: disk caches filled, files in the page cache
            for fn in table.values():
                fn(side)  # type: ignore[operator]
        for r in range(args.rounds):
            order = sides if r % 2 == 0 else sides[::-1]
            for name, fn in table.items():
                for side in order:
                    side.samples.setdefault(name, []).append(fn(side))  # type: ignore[operator]
            print(f"round {r + 1}/{args.rounds} done (load {os.getloadavg()[0]:.1f})", flush=True)
            if r + 1 < args.rounds:
                report(sides, list(table))  # so far: a run stopped early still has figures
        report(sides, list(table))
    finally:
        if proc is not None:
            from pipeform import server

            server.stop_pid(proc.pid)
        for wt in worktrees:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(wt)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
