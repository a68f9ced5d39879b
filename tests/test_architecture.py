"""The layers are enforced, not a convention: import-linter's contracts (.importlinter)
hold on the code as installed, and a module breaking them is caught."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import lint_imports  # noqa: E402

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("importlinter") is None, reason="import-linter is not installed (dev dependency)"
)


def test_import_contracts_hold():
    out = lint_imports.lint()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 2 kept, 0 broken." in out.stdout


def test_a_lower_layer_importing_a_higher_one_is_refused():
    out = lint_imports.lint({"pipeform.spec.sneaky": "from pipeform.reconciler import plan\n"})
    assert out.returncode != 0
    assert "pipeform.spec.sneaky -> pipeform.reconciler.plan" in out.stdout


def test_the_reconciler_importing_the_sync_controller_is_refused():
    out = lint_imports.lint({"pipeform.reconciler.sneaky": "import pipeform.sync.controller\n"})
    assert out.returncode != 0
    assert "pipeform.reconciler.sneaky -> pipeform.sync.controller" in out.stdout


def test_prefect_outside_the_named_modules_is_refused():
    out = lint_imports.lint({"pipeform.reconciler.sneaky": "def f():\n    import prefect.flows\n"})
    assert out.returncode != 0
    assert "pipeform.reconciler.sneaky -> prefect" in out.stdout
