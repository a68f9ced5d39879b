"""Figure: validating 1,000 Flow documents of 10 tasks each plus a Deployment for each.

    python benchmarks/bench_validate.py [--flows 1000] [--tasks 10] [--repeat 3]

Runs load_project (every validation step) in-process and prints the best wall time,
a per-step breakdown of one run, and the ratio to the 2 s target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import write_tree

TARGET_S = 2.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from pipeform.spec import load_project

    with tempfile.TemporaryDirectory() as tmp:
        root = write_tree(Path(tmp) / "specs", args.flows, args.tasks)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            project, diagnostics = load_project([root])
            times.append(time.perf_counter() - start)
            assert project is not None, diagnostics[:3]
        documents = len(project.documents)
    best = min(times)
    print(f"validate: {documents} documents ({args.flows} flows x {args.tasks} tasks + deployments)")
    print(
        f"  runs: {', '.join(f'{t:.2f}s' for t in times)} (first run includes imports of Prefect's schedule validators)"
    )
    print(f"  best {best:.2f}s; target {TARGET_S:.1f}s; ratio best/target = {best / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
