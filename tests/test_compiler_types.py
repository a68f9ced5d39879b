"""mypy in strict mode on pipeform.compiler (settings in pyproject's [tool.mypy])."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e .[dev])")
def test_compiler_passes_mypy_strict():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "typecheck.py"), "pipeform.compiler"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout
