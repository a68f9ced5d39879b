"""Run `lint-imports` (import-linter, contracts in .importlinter) on pipeform's modules.

pipeform's code folders sit at the repository root and install as `pipeform.<folder>`
(pyproject's package-dir), a layout import-linter cannot walk: it finds a package's modules
by listing the package's own folder. So the installed layout is mirrored first into a
temporary folder (copies, from the package-dir mapping), and lint-imports runs on that.

    .venv/bin/python scripts/lint_imports.py     # exit status of lint-imports
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mirror(into: Path) -> None:
    """The package tree as installed: pipeform/, pipeform/cli/, pipeform/spec/, ..."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs: dict[str, str] = setup["package-dir"]
    for package in setup["packages"]:
        base = max((p for p in dirs if package == p or package.startswith(p + ".")), key=len)
        folder = ROOT / dirs[base] / Path(*package[len(base) :].split(".")[1:])
        target = into.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in folder.glob("*.py"):
            shutil.copy2(source, target / source.name)


def lint(extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """lint-imports on the mirrored tree; `extra` adds modules (dotted name -> source), so a
    test can show that a violation is caught."""
    with tempfile.TemporaryDirectory(prefix="pipeform-lint-imports-") as tmp:
        mirror(Path(tmp))
        for module, source in (extra or {}).items():
            Path(tmp, *module.split(".")).with_suffix(".py").write_text(source)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, os.environ.get("PYTHONPATH", "")])}
        exe = Path(sys.executable).with_name("lint-imports")
        cmd = [str(exe) if exe.exists() else "lint-imports", str(ROOT / ".importlinter"), "--no-cache"]
        return subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=300)


def main() -> int:
    out = lint()
    print(out.stdout, end="")
    print(out.stderr, end="", file=sys.stderr)
    return out.returncode


if __name__ == "__main__":
    raise SystemExit(main())
