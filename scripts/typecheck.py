"""Run mypy on pipeform's packages as they are installed (`pipeform.<folder>`).

The code folders sit at the repository root and install under `pipeform` through
package-dir, which mypy cannot follow; this lays out a tree of symlinks named as the
installed packages and runs mypy there with the repository's [tool.mypy] settings.

    python scripts/typecheck.py [pipeform.compiler pipeform.spec ...]

Without arguments: every package pyproject's [tool.mypy] overrides make strict (the one
list of strict packages; tests/test_architecture.py uses it, and scripts/test.sh for a subset of tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shadow_tree(into: Path, root: Path = ROOT) -> Path:
    """into/pipeform/<name> -> each folder the checkout `root` maps in package-dir (top-level
    modules linked one by one). benchmarks/bench_ab.py lays out older checkouts the same way."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    package_dir = config["tool"]["setuptools"]["package-dir"]
    top = into / "pipeform"
    top.mkdir(parents=True)
    for module in (root / package_dir["pipeform"]).glob("*.py"):
        (top / module.name).symlink_to(module)
    for package, folder in package_dir.items():
        parts = package.split(".")
        if len(parts) == 2:  # pipeform.X; deeper packages come with their parent folder
            (top / parts[1]).symlink_to(root / folder, target_is_directory=True)
    return into


def strict_packages(root: Path = ROOT) -> list[str]:
    """The packages pyproject's [[tool.mypy.overrides]] make strict (`pipeform.X`, not `pipeform.X.*`)."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    found: list[str] = []
    for override in config["tool"]["mypy"].get("overrides", []):
        if override.get("strict"):
            modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
            found += [m for m in modules if not m.endswith(".*")]
    return found


def main(packages: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="pipeform-mypy-") as tmp:
        tree = shadow_tree(Path(tmp) / "src")
        args = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
        # PIPEFORM_MYPY_CACHE_DIR (the test session sets it): runs share mypy's incremental cache,
        # so a second run re-analyses only what changed (mypy checks each cached file's hash).
        cache = os.environ.get("PIPEFORM_MYPY_CACHE_DIR") or str(Path(tmp) / "cache")
        args += ["--cache-dir", cache]
        for package in packages or strict_packages():
            args += ["-p", package]
        return subprocess.run(args, cwd=tree, env={**os.environ, "MYPYPATH": str(tree)}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
