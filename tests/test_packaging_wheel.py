"""The wheel installs into a fresh virtual environment and works from there, under the
`pipeform` namespace, with the JSON Schema inside."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)], check=True, capture_output=True
    )
    (wheel,) = out.glob("pipeform-*.whl")
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    # Reuse the dependencies this interpreter already has (no network needed) by listing its
    # site-packages in a .pth file: a plain path, so the editable install's finder there is
    # not activated and pipeform itself can only come from the wheel.
    own = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = [p for p in sys.path if p.endswith("site-packages")] or [sysconfig.get_paths()["purelib"]]
    Path(own.stdout.strip(), "_test_deps.pth").write_text("\n".join(ours) + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
        check=True,
        capture_output=True,
    )
    return wheel, env_dir


def run(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(env_dir / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_wheel_contents(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeform/schemas/pipeform-v1.schema.json" in names
    for package in ("spec", "compiler", "reconciler", "cli"):
        assert f"pipeform/{package}/__init__.py" in names
    assert not any(n.startswith(("spec/", "compiler/", "reconciler/", "tests/")) for n in names)


def test_cli_runs_from_the_venv(installed, tmp_path):
    _, env_dir = installed
    where = run(
        env_dir,
        "python",
        "-c",
        "import pipeform.spec, pipeform.compiler, pipeform.reconciler; print(pipeform.spec.__file__)",
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    assert str(env_dir) in where.stdout and str(ROOT) not in where.stdout
    assert run(env_dir, "pipeform", "--help", cwd=tmp_path).returncode == 0
    version = run(env_dir, "pipeform", "--version", cwd=tmp_path)
    assert version.stdout.startswith("pipeform 0.")
    validate = run(env_dir, "pipeform", "validate", str(ROOT / "examples"), cwd=tmp_path)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "documents OK" in validate.stdout + validate.stderr


def test_users_own_spec_and_compiler_modules_do_not_collide(installed, tmp_path):
    _, env_dir = installed
    (tmp_path / "spec.py").write_text("MINE = True\n")
    (tmp_path / "compiler.py").write_text("MINE = True\n")
    code = "import spec, compiler, pipeform.spec, pipeform.compiler; assert spec.MINE and compiler.MINE; print('ok')"
    result = run(env_dir, "python", "-c", code, cwd=tmp_path)
    assert result.stdout.strip() == "ok", result.stderr
