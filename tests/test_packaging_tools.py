"""The README's command-line-tool installs, run as a new user would: `pipx install .`,
`uv tool install .` and their git-URL forms.

The README block is read and run line by line, as it is, in a clone of the repository (a git
repository made from the working tree). Only the GitHub URL is replaced, by a `git+file://`
URL of that clone: there is no internet here. Each install gets its own empty HOME, PIPX_HOME
and UV_TOOL_DIR, and PATH holds nothing of the test's venv but the `pipx` and `uv` commands.
Package caches are shared with the machine's own (PIP_CACHE_DIR, UV_CACHE_DIR): they only
save downloads, the installs resolve and build everything from the clone and the index anew.
pipx runs with its pip backend (see _user_env), so pip and uv each resolve and build once.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
GITHUB_URL = "git+https://github.com/pipeform/pipeform.git"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    """The block after the readme-tool-install marker: one command per line, and the
    alternative after `# or:` as a command of its own."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- readme-tool-install") :].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        first, _, alternative = line.partition("# or:")
        commands += [c.strip() for c in (first, alternative) if c.strip()]
    return commands


def test_the_readme_block_is_the_four_installs():
    assert readme_commands() == [
        "pipx install .",
        "uv tool install .",
        f"pipx install {GITHUB_URL}",
        f"uv tool install {GITHUB_URL}",
    ]


def run(cmd: list[str] | str, cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    shell = isinstance(cmd, str)
    return subprocess.run(cmd, cwd=cwd, env=env, shell=shell, capture_output=True, text=True, timeout=timeout)


@functools.cache
def _cache_dirs() -> dict[str, str]:
    pip_cache = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    uv_cache = subprocess.run([str(BIN / "uv"), "cache", "dir"], capture_output=True, text=True)
    dirs = {"PIP_CACHE_DIR": pip_cache.stdout.strip(), "UV_CACHE_DIR": uv_cache.stdout.strip()}
    return {k: v for k, v in dirs.items() if v and Path(v).is_absolute()}


@pytest.fixture(scope="module")
def tools(tmp_path_factory) -> Path:
    """A folder with only the two installers, for PATH."""
    if not (BIN / "pipx").exists() or not (BIN / "uv").exists():
        pytest.skip("pipx and uv come with the dev extra (bash scripts/setup.sh)")
    folder = tmp_path_factory.mktemp("tools")
    for name in ("pipx", "uv"):
        (folder / name).symlink_to(BIN / name)
    return folder


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The working tree's files (tracked or new, not ignored) committed in a fresh repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    dest = tmp_path_factory.mktemp("clone") / "pipeform"
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():  # a deleted but still tracked file is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for step in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run([*git, *step], cwd=dest, check=True, capture_output=True)
    return dest


def _user_env(home: Path, tools: Path) -> dict[str, str]:
    """The machine's environment (certificates, locale, pip's index settings) as a new user
    has it, less everything about the test's venv or another tool home."""
    own = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIPX_", "UV_", "PREFECT_", "PIPEFORM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN]
    env |= {
        "HOME": str(home),
        "PATH": os.pathsep.join([str(tools), *path]),
        "PIPX_HOME": str(home / "pipx"),
        "PIPX_BIN_DIR": str(home / "bin"),
        "PIPX_MAN_DIR": str(home / "man"),
        # pipx picks uv as its backend when uv is at hand (here it always is: uv is a
        # dependency); pip is the backend of a pipx without uv and is what `uv tool` is not.
        "PIPX_DEFAULT_BACKEND": "pip",
        "UV_TOOL_DIR": str(home / "uv-tools"),
        "UV_TOOL_BIN_DIR": str(home / "bin"),
        "UV_PYTHON_DOWNLOADS": "never",  # no internet: the machine's Python 3.11+ is used
        **_cache_dirs(),
    }
    return env


def _install(
    command: str, n: int, clone: Path, tools: Path, base: Path
) -> tuple[str, Path, subprocess.CompletedProcess]:
    home = base / f"user-{n}"
    env = _user_env(home, tools)
    home.mkdir()
    line = command.replace(GITHUB_URL, f"git+file://{clone}")
    done = run(["bash", "-euo", "pipefail", "-c", line], cwd=clone, env=env)
    return line, home, done


@pytest.fixture(scope="module")
def installs(clone, tools, tmp_path_factory) -> list[tuple[str, Path, subprocess.CompletedProcess]]:
    """The four README installs, run concurrently (each its own user): mostly downloads and unpacking."""
    base = tmp_path_factory.mktemp("users")
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda nc: _install(nc[1], nc[0], clone, tools, base), enumerate(readme_commands())))


def tool_python(home: Path, command: str) -> Path:
    return home / ("pipx/venvs" if command.startswith("pipx") else "uv-tools") / "pipeform" / "bin" / "python"


@pytest.mark.parametrize("n", range(4), ids=["pipx-path", "uv-path", "pipx-git-url", "uv-git-url"])
def test_a_readme_install_gives_a_working_pipeform(installs, clone, n, tmp_path):
    command, home, done = installs[n]
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    pipeform = home / "bin" / "pipeform"
    env = _user_env(home, home / "bin") | {"PREFECT_HOME": str(home / ".prefect")}
    version = run([str(pipeform), "--version"], cwd=tmp_path, env=env)
    assert version.returncode == 0 and version.stdout.strip() == f"pipeform {VERSION}", version.stdout + version.stderr

    # The package comes from the tool's own venv, not from the clone or the test's venv.
    where = run([str(tool_python(home, command)), "-c", "import pipeform; print(pipeform.__file__)"], tmp_path, env)
    assert Path(where.stdout.strip()).is_relative_to(home), where.stdout + where.stderr

    validated = run([str(pipeform), "validate", "examples/"], cwd=clone, env=env)
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-3000:]
    said = validated.stdout + validated.stderr
    assert re.search(r"^\d+ documents OK", said, re.M) and "error[" not in said, said[-2000:]

    # `init` needs the templates and the schema shipped as package data.
    scaffolded = run([str(pipeform), "init", "proj"], cwd=tmp_path, env=env)
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    assert (tmp_path / "proj/.github/workflows/pipeform.yml").is_file()
    checked = run([str(pipeform), "validate", "proj/pipelines"], cwd=tmp_path, env=env)
    assert checked.returncode == 0 and "4 documents OK" in checked.stdout + checked.stderr, checked.stderr
