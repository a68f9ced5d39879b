"""The built wheel, installed in a fresh virtual environment, works on its own.

The wheel and sdist are the ones the README's wheel block builds, run once as it is in a copy
of the source tree (so no build/ folder lands in the repository): `python -m build`, whose
build isolation fetches setuptools from PyPI when the local one is too old. The venv sees the running interpreter's packages (prefect and friends are not
reinstalled) but pipeform itself is installed into it from the wheel, and every command runs
from a temporary working directory, so nothing can come from the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
PACKAGE_DIRS = PYPROJECT["tool"]["setuptools"]["package-dir"]  # pipeform.x -> folder

pytestmark = pytest.mark.slow


def _copy_source(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in sorted({d.split("/")[0] for d in PACKAGE_DIRS.values()}):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _outer_site_packages() -> list[str]:
    """Package folders of the interpreter running the tests, for the venv to see.

    --system-site-packages only reaches the *base* interpreter; when the tests themselves run in
    a virtualenv (CI's .venv), its site-packages is added with a plain .pth path line. Such a line
    adds the folder to sys.path without running the .pth files in it, so an editable pipeform
    install there stays inactive.
    """
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(kw.pop("env", {}))
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=kw.pop("timeout", 300))


def test_metadata_is_complete_for_a_release(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = Parser().parsestr(zf.read(f"pipeform-{VERSION}.dist-info/METADATA").decode())
    assert metadata["License-Expression"] == "Apache-2.0" and metadata["License-File"] == "LICENSE"
    assert f"pipeform-{VERSION}.dist-info/licenses/LICENSE" in names and "pipeform/py.typed" in names
    classifiers = metadata.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert metadata["Requires-Python"] == ">=3.11" and metadata["Description-Content-Type"] == "text/markdown"
    assert "pipeform/templates/github-workflow.yml" in names  # `pipeform init` needs its templates
    (sdist,) = wheel.parent.glob("pipeform-*.tar.gz")
    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
    assert {"LICENSE", "README.md", "pyproject.toml", "pipeform/py.typed", "schemas/pipeform-v1.schema.json"} <= members


def test_wheel_and_sdist_pass_twine_check(wheel):
    twine = shutil.which("twine") or shutil.which("twine", path=str(Path(sys.executable).parent))
    if not twine:
        pytest.skip("twine is not installed (it is in the dev extra)")
    checked = run([twine, "check", "--strict", *map(str, sorted(wheel.parent.iterdir()))], cwd=wheel.parent)
    assert checked.returncode == 0 and checked.stdout.count("PASSED") == 2, checked.stdout + checked.stderr


def _readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(marker) :]
    return after.split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def readme_block_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The README's wheel block, run once as it is in a copy of the source: (source, HOME, result)."""
    work = tmp_path_factory.mktemp("readme-wheel")
    block = _readme_block("<!-- readme-wheel-install")
    src = _copy_source(work / "pipeform")
    home = work / "home"
    home.mkdir()
    done = run(["bash", "-euo", "pipefail", "-c", block], cwd=src, env={"HOME": str(home)}, timeout=1800)
    return src, home, done


@pytest.fixture(scope="module")
def wheel(readme_block_run) -> Path:
    """The wheel the README's block built (`python -m build`: the sdist first, then the wheel
    from the unpacked sdist, so the sdist is complete); its sdist beside it in dist/. Built
    once for the module: the tests of the artifacts check the very files a user builds."""
    src, _, done = readme_block_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (found,) = (src / "dist").glob("pipeform-*.whl")
    return found


def test_the_readme_wheel_commands_install_pipeform_in_a_fresh_venv(readme_block_run, tmp_path):
    """The README's wheel block, run as it is in a copy of the source: a throwaway venv builds
    the wheel, a fresh venv (HOME is a temp folder) installs it with every dependency."""
    _, home, done = readme_block_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == f"pipeform {VERSION}"
    installed = home / ".venvs" / "pipeform"
    where = run([str(installed / "bin" / "python"), "-c", "import pipeform; print(pipeform.__file__)"], cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout + where.stderr


@pytest.fixture(scope="module")
def env_dir(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("venv") / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(target)
    purelib = Path(
        run(
            [str(target / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=target,
        ).stdout.strip()
    )
    if sys.prefix != sys.base_prefix:  # the tests run inside a venv: make its packages visible too
        (purelib / "_outer_site_packages.pth").write_text("\n".join(_outer_site_packages()) + "\n")
    # pip of the running interpreter installs into the venv (no pip bootstrap, no dependency download).
    installed = run(
        [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        cwd=target,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return target


def vpy(env_dir: Path, code: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return run([str(env_dir / "bin" / "python"), "-c", code], cwd=cwd, **kw)


def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = f"pipeform-{VERSION}.dist-info"
        metadata = Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    assert "pipeform/schemas/pipeform-v1.schema.json" in names
    for package in PACKAGE_DIRS:
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    # Everything lives under the pipeform namespace: no top-level spec/, compiler/, tests/, ...
    assert {n.split("/")[0] for n in names} == {"pipeform", dist_info}
    assert "pipeform = pipeform.cli.app:main" in entry_points
    requires = " ".join(metadata.get_all("Requires-Dist"))
    for pin in ("prefect<3.9,>=3.8", "fastapi<0.151", "sqlalchemy<2.1"):
        assert pin.split("<")[0] in requires and "<" + pin.split("<")[1].split(",")[0] in requires, pin
    assert metadata["Version"] == VERSION


def test_installed_pipeform_comes_from_the_venv(env_dir, tmp_path):
    code = (
        "import json, pipeform, pipeform.spec, pipeform.compiler, pipeform.reconciler, pipeform.cli.app\n"
        "from importlib.resources import files\n"
        "mods = [pipeform, pipeform.spec, pipeform.compiler, pipeform.reconciler, pipeform.cli.app]\n"
        "schema = files('pipeform.schemas') / 'pipeform-v1.schema.json'\n"
        "print(json.dumps({'files': [m.__file__ for m in mods], 'version': pipeform.__version__,\n"
        "                  'schema': json.loads(schema.read_text())}))"
    )
    result = vpy(env_dir, code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    purelib = Path(vpy(env_dir, "import sysconfig; print(sysconfig.get_paths()['purelib'])", tmp_path).stdout.strip())
    for file in out["files"]:
        assert Path(file).resolve().is_relative_to(purelib.resolve()), file
        assert not Path(file).resolve().is_relative_to(ROOT), file
    assert out["version"] == VERSION
    assert out["schema"] == json.loads((ROOT / "schemas" / "pipeform-v1.schema.json").read_text())


def test_console_script(env_dir, tmp_path):
    pipeform = str(env_dir / "bin" / "pipeform")
    shown = run([pipeform, "--help"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    for command in ("validate", "plan", "apply", "run"):
        assert command in shown.stdout
    version = run([pipeform, "--version"], cwd=tmp_path)
    assert version.returncode == 0 and VERSION in version.stdout
    validated = run([pipeform, "validate", str(ROOT / "examples")], cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "OK" in validated.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: f}\nspec: {tasks: [{name: t}]}\n")
    failed = run([pipeform, "validate", str(broken)], cwd=tmp_path)
    assert failed.returncode == 1 and "broken.yaml" in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr


HOSTILE = 'raise ImportError("a user module named {0} was imported instead of pipeform.{0}")\n'
USER_PROJECT = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: collide}
spec: {}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: collide-flow}
spec:
  tasks:
    - {name: a, python: "spec:double", inputs: {x: 21}}
    - {name: b, python: "compiler.steps:shout", inputs: {word: "$[ tasks.a.result ]"}}
"""


def test_user_modules_named_like_pipeform_stages_do_not_collide(env_dir, tmp_path):
    """pipeform's stages are pipeform.spec, pipeform.compiler, ...: a user's own top-level
    `spec`, `compiler`, `reconciler`, `cli` or `schemas` module must neither shadow them nor be
    shadowed by them."""
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for name in ("spec", "compiler", "reconciler", "cli", "schemas"):
        (hostile / f"{name}.py").write_text(HOSTILE.format(name))
    env = {"PYTHONPATH": str(hostile)}
    imported = vpy(
        env_dir, "import pipeform.spec, pipeform.compiler, pipeform.reconciler, pipeform.cli.app", tmp_path, env=env
    )
    assert imported.returncode == 0, imported.stderr
    validated = run([str(env_dir / "bin" / "pipeform"), "validate", str(ROOT / "examples")], cwd=tmp_path, env=env)
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # The other way round: after pipeform is imported, the user's `spec` and `compiler` are still theirs.
    project = _user_project(tmp_path)
    code = (
        "import sys, pipeform.spec, pipeform.compiler\n"
        f"project, diagnostics = pipeform.spec.load_project([{str(project)!r}])\n"
        "assert project is not None, diagnostics\n"
        "sys.path.insert(0, project.root)\n"
        "import spec, compiler.steps\n"
        "assert spec.double(21) == 42 and compiler.steps.shout(42) == '42!'\n"
        "assert pipeform.compiler.__name__ == 'pipeform.compiler' and pipeform.compiler is not compiler\n"
        "print('ok')\n"
    )
    checked = vpy(env_dir, code, cwd=tmp_path)
    assert checked.returncode == 0 and checked.stdout.strip() == "ok", checked.stderr


def _user_project(tmp_path: Path) -> Path:
    """A project whose own callables live in modules named `spec` and `compiler`."""
    project = tmp_path / "project"
    (project / "compiler").mkdir(parents=True)
    (project / "spec.py").write_text("def double(x):\n    return 2 * x\n")
    (project / "compiler" / "__init__.py").write_text("")
    (project / "compiler" / "steps.py").write_text("def shout(word):\n    return f'{word}!'\n")
    (project / "pipeline.yaml").write_text(USER_PROJECT)
    return project


@pytest.mark.server
def test_installed_pipeform_runs_a_project_with_such_modules(env_dir, tmp_path, prefect_api):
    """End to end through the installed console script: `pipeform run` imports the user's
    `spec` and `compiler.steps` modules from the project folder."""
    project = _user_project(tmp_path)
    result = run(
        [str(env_dir / "bin" / "pipeform"), "run", "collide-flow", str(project)],
        cwd=tmp_path,
        env={"PREFECT_API_URL": prefect_api},
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "42!" in result.stdout
