"""The layers are enforced, not a convention: import-linter's contracts (.importlinter)
hold on the code as installed, and a module breaking them is caught."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import lint_imports  # noqa: E402
import typecheck  # noqa: E402

needs_linter = pytest.mark.skipif(
    importlib.util.find_spec("importlinter") is None, reason="import-linter is not installed (dev dependency)"
)


@needs_linter
def test_import_contracts_hold():
    out = lint_imports.lint()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 2 kept, 0 broken." in out.stdout


@needs_linter
def test_a_lower_layer_importing_a_higher_one_is_refused():
    out = lint_imports.lint({"pipeform.spec.sneaky": "from pipeform.reconciler import plan\n"})
    assert out.returncode != 0
    assert "pipeform.spec.sneaky -> pipeform.reconciler.plan" in out.stdout


@needs_linter
def test_the_reconciler_importing_the_sync_controller_is_refused():
    out = lint_imports.lint({"pipeform.reconciler.sneaky": "import pipeform.sync.controller\n"})
    assert out.returncode != 0
    assert "pipeform.reconciler.sneaky -> pipeform.sync.controller" in out.stdout


@needs_linter
def test_prefect_outside_the_named_modules_is_refused():
    out = lint_imports.lint({"pipeform.reconciler.sneaky": "def f():\n    import prefect.flows\n"})
    assert out.returncode != 0
    assert "pipeform.reconciler.sneaky -> prefect" in out.stdout


# The packages mypy checks in strict mode (pyproject's [tool.mypy] overrides): the list may grow, never shrink.
STRICT = {
    "pipeform.compiler",
    "pipeform.spec",
    "pipeform.reconciler",
    "pipeform.sync",
    "pipeform.environments",
    "pipeform.cli",
    "pipeform.convert",
    "pipeform.server",
    "pipeform.worker",
    "pipeform.ui",
    "pipeform.diskcache",
    "pipeform.masking",
}


def test_the_strict_packages_stay_strict():
    assert set(typecheck.strict_packages()) >= STRICT


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (dev dependency)")
def test_strict_packages_type_check():
    """Every package pyproject makes strict, no error code disabled; the compiler has its own
    test (tests/test_compiler_types.py)."""
    packages = [p for p in typecheck.strict_packages() if p != "pipeform.compiler"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "typecheck.py"), *packages],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found" in out.stdout


# Issue 12's shape: modules under about 400 lines, functions under about 60 (tests and
# benchmarks aside). A longer one is split along its concerns, not let through here.
CODE_FOLDERS = ("spec", "compiler", "reconciler", "cli", "sync", "convert", "environments", "integrations", "pipeform")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _code_files() -> list[Path]:
    return sorted(f for folder in CODE_FOLDERS for f in (ROOT / folder).rglob("*.py"))


def test_modules_and_functions_stay_small():
    files = _code_files()
    assert len(files) > 100  # the scan reads the code folders (a wrong root would pass on nothing)
    too_long = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{f.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{f.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []
