"""Figure: compiling 1,000 Flow documents of 10 tasks each into prefect.Flow objects.

    python benchmarks/bench_compile.py [--flows 1000] [--tasks 10]

Times lowering (spec -> IR) and building Prefect objects separately, after the specs are
loaded; prints the total against the 3 s target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import write_tree

TARGET_S = 3.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=10)
    args = ap.parse_args()
    import prefect  # noqa: F401  (import time is not compile time)

    from pipeform.compiler import lower
    from pipeform.compiler.build import compile_project
    from pipeform.spec import load_project

    with tempfile.TemporaryDirectory() as tmp:
        project, diagnostics = load_project([write_tree(Path(tmp) / "specs", args.flows, args.tasks)])
        assert project is not None, diagnostics[:3]
        start = time.perf_counter()
        irs = [lower(project, name) for name in project.flows]
        lowered = time.perf_counter() - start
        start = time.perf_counter()
        flows = compile_project(project)
        built = time.perf_counter() - start
    assert len(flows) == args.flows and len(irs) == args.flows
    total = built  # compile_project lowers again, so `built` is the whole compile
    print(f"compile: {args.flows} flows x {args.tasks} tasks -> prefect.Flow objects")
    print(
        f"  lowering alone {lowered:.2f}s; full compile (lower + build) {total:.2f}s; target {TARGET_S:.1f}s; ratio {total / TARGET_S:.2f}"
    )


if __name__ == "__main__":
    main()
