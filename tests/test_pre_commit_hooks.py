"""`.pre-commit-hooks.yaml` through the real pre-commit (`pre-commit try-repo` of this checkout)
on a sample git repository: a bad spec fails pipeform-validate with located output, a badly
formatted one is rewritten by pipeform-fmt. pre-commit installs the hook's environment from
this checkout (`language: python`) once; PRE_COMMIT_HOME is kept across runs to reuse it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from ci_helpers import ROOT, clean_env

pytestmark = pytest.mark.slow  # the first run builds the hook's environment (minutes)

GOOD = (ROOT / "examples" / "quickstart" / "pipeline.yaml").read_text()


def pre_commit() -> str:
    found = shutil.which("pre-commit") or shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("pre-commit is not installed (pip install pre-commit; it is in the dev extra)")
    return found


def sample_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=path, check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory) -> Path:
    """This checkout as one commit with a fixed date: every try-repo of the session (and of a
    later session, same content) names the same revision, so pre-commit builds its env once."""
    pre_commit()
    repo = tmp_path_factory.mktemp("hooks") / "pipeform"
    ignore = shutil.ignore_patterns(".git", ".venv", ".tools", "*.egg-info", "__pycache__", ".ruff_cache", ".pipeform")
    shutil.copytree(ROOT, repo, ignore=ignore)
    date = {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
    commit = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hooks"]
    subprocess.run(commit, cwd=repo, check=True, capture_output=True, env=clean_env(**date))
    return repo


def try_repo(hooks: Path, repo: Path, hook: str) -> subprocess.CompletedProcess[str]:
    home = Path(tempfile.gettempdir()) / "pipeform-pre-commit-home"
    env = clean_env(PRE_COMMIT_HOME=str(home))
    return subprocess.run(
        [pre_commit(), "try-repo", str(hooks), hook, "--all-files"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip


def test_validate_hook_fails_a_bad_spec_with_its_location(hooks_repo, tmp_path):
    bad = GOOD.replace("flow: hello", "flow: helo")
    repo = sample_repo(tmp_path / "bad", {"pipeline.yaml": bad})
    done = try_repo(hooks_repo, repo, "pipeform-validate")
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if "flow: helo" in text)
    assert f"pipeline.yaml:{line}:" in done.stdout and "helo" in done.stdout, done.stdout

    good = sample_repo(tmp_path / "good", {"pipeline.yaml": GOOD})
    done = try_repo(hooks_repo, good, "pipeform-validate")
    assert done.returncode == 0, done.stdout + done.stderr


def test_fmt_hook_rewrites_a_badly_formatted_spec(hooks_repo, tmp_path):
    messy = GOOD.replace("  name: hello-every-hour", "  name:     hello-every-hour").replace(
        "  type: process", "  type:   process"
    )
    repo = sample_repo(tmp_path / "messy", {"pipeline.yaml": messy})
    done = try_repo(hooks_repo, repo, "pipeform-fmt")
    assert done.returncode == 1 and "files were modified by this hook" in done.stdout, done.stdout + done.stderr
    fixed = (repo / "pipeline.yaml").read_text()
    assert "name: hello-every-hour" in fixed and "type: process" in fixed and fixed != messy
    again = try_repo(hooks_repo, repo, "pipeform-fmt")  # formatted now: the hook passes and changes nothing
    assert again.returncode == 0 and (repo / "pipeline.yaml").read_text() == fixed, again.stdout
