"""Figure: `pipeform convert` of the corpus's largest prefect.yaml (57 deployments, 1,810 lines).

    python benchmarks/bench_convert.py [--repeat 5] [--cli]

In-process: convert_files + writing the documents (formatted like `pipeform fmt`), best of
--repeat. With --cli, also times the whole `pipeform convert` command (process start,
imports). Target: under 1 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "prefect-yaml"  # input only (its SOURCES.md)
FILE = CORPUS / "CBIIT__ChildhoodCancerDataInitiative-Prefect_Pipeline__prefect.yaml"
TARGET_S = 1.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cli", action="store_true", help="also time the whole CLI command")
    args = ap.parse_args()
    from pipeform.convert import convert_files, write

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            start = time.perf_counter()
            conv = convert_files([FILE], import_computed=False)
            write(conv, Path(tmp) / f"out{i}", [FILE])
            times.append(time.perf_counter() - start)
        assert conv.ok, [str(d) for d in conv.diagnostics if d.severity == "error"]
        deployments = sum(d["kind"] == "Deployment" for d in conv.documents)
        print(
            f"in-process: {deployments} deployments, best {min(times):.3f} s (runs {', '.join(f'{t:.3f}' for t in times)})"
        )
        if args.cli:
            start = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipeform",
                    "convert",
                    str(FILE),
                    "--out",
                    str(Path(tmp) / "cli"),
                    "--no-import",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - start
            assert done.returncode == 0, done.stderr[-2000:]
            print(f"whole command: {wall:.2f} s")
    print(f"target < {TARGET_S:.0f} s: {'met' if min(times) < TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
