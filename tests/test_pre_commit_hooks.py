"""`.pre-commit-hooks.yaml` through the real pre-commit (`pre-commit try-repo` of this checkout)
on a sample git repository: a bad spec fails pipeform-validate with located output, a badly
formatted one is rewritten by pipeform-fmt. pre-commit installs the hook's environment from
this checkout (`language: python`): try-repo in a store of its own, `pre-commit run` in
PRE_COMMIT_HOME (kept across runs). With pre-commit-uv (dev extra) installed, pre-commit builds
those environments with uv instead of pip (the same install, about 3x faster here)."""

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
        (path / name).parent.mkdir(parents=True, exist_ok=True)
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


def pre_commit_in(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # try-repo builds the hook's environment in a fresh store every call (minutes: pipeform and
    # its dependencies); `pre-commit run` keeps it in PRE_COMMIT_HOME, kept across runs.
    home = Path(tempfile.gettempdir()) / "pipeform-pre-commit-home"
    return subprocess.run(
        [pre_commit(), *args], cwd=repo, env=clean_env(PRE_COMMIT_HOME=str(home)),
        capture_output=True, text=True, timeout=1500,
    )  # fmt: skip


MESSY = (
    GOOD.replace("  name: hello-every-hour", "  name:     hello-every-hour")
    .replace("  type: process", "  type:   process")
    .replace("  name: quickstart\n", "  name: messy\n")
)  # its own project beside the bad one
BAD = GOOD.replace("flow: hello", "flow: helo")


def test_try_repo_validate_fails_a_bad_spec_with_its_location_and_fmt_fixes_a_messy_one(hooks_repo, tmp_path):
    repo = sample_repo(tmp_path / "sample", {"bad/pipeline.yaml": BAD, "messy/pipeline.yaml": MESSY})
    done = pre_commit_in(repo, "try-repo", str(hooks_repo), "--all-files")  # both hooks
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    line = next(i for i, text in enumerate(BAD.splitlines(), 1) if "flow: helo" in text)
    sections = {part.split(".", 1)[0]: part for part in out.split("\npipeform ")[1:]}  # one per hook
    validate, fmt = sections["validate"], sections["fmt"]
    assert "Failed" in validate and f"bad/pipeline.yaml:{line}:" in validate and "helo" in validate, out
    assert "Failed" in fmt and "files were modified by this hook" in fmt, out
    fixed = (repo / "messy" / "pipeline.yaml").read_text()
    assert fixed != MESSY and "name: hello-every-hour" in fixed and "type: process" in fixed


def test_hooks_pass_on_good_specs_from_a_project_config(hooks_repo, tmp_path):
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks_repo, capture_output=True, text=True).stdout.strip()
    config = (  # what `pipeform init` writes, pointed at this checkout
        f"repos:\n  - repo: {hooks_repo}\n    rev: {rev}\n    hooks:\n"
        "      - {id: pipeform-validate, args: [pipelines]}\n      - {id: pipeform-fmt, args: [pipelines]}\n"
    )
    repo = sample_repo(tmp_path / "good", {"pipelines/pipeline.yaml": GOOD, ".pre-commit-config.yaml": config})
    done = pre_commit_in(repo, "run", "--all-files")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Passed") == 2, done.stdout
    assert (repo / "pipelines" / "pipeline.yaml").read_text() == GOOD
