"""The git side of the controller: a bare mirror of the repository under the state
directory, fetched each cycle, and one clean checkout per commit that is synced.

Side effects only (the `git` binary). A fetch from an unchanged remote costs no request to
the Prefect server and, for a local repository, a few milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

KEEP_CHECKOUTS = 3  # the live commit's checkout and a couple before it


class SourceError(RuntimeError):
    """git failed: unreachable remote, unknown branch, corrupt mirror."""


@dataclass(frozen=True)
class Source:
    repo: str  # URL or local path
    branch: str | None  # None: the remote's default branch (HEAD)
    path: str  # sub-folder holding the specs ("" for the repository root)
    state: Path  # this controller's folder (mirror, checkouts)

    @property
    def mirror(self) -> Path:
        return self.state / "mirror.git"

    @property
    def checkouts(self) -> Path:
        return self.state / "checkouts"


def source_dir(state_root: Path, repo: str, branch: str | None, path: str, env: str | None) -> Path:
    """One folder per (repository, branch, path, env): two controllers on one machine share nothing."""
    key = hashlib.sha256(f"{repo}\0{branch}\0{path}\0{env}".encode()).hexdigest()[:16]
    return state_root / "sync" / key


def _git(*args: str, cwd: Path | None = None, timeout: float = 120) -> str:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # never wait for a password
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"git {args[0]}: {exc}") from exc
    if out.returncode != 0:
        raise SourceError(f"git {args[0]} failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def fetch(src: Source) -> str:
    """Bring the mirror up to date and return the branch's commit."""
    if not (src.mirror / "HEAD").exists():
        src.state.mkdir(parents=True, exist_ok=True)
        tmp = src.state / "mirror.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        _git("clone", "--mirror", "--quiet", src.repo, str(tmp))
        tmp.rename(src.mirror)
    else:
        _git("--git-dir", str(src.mirror), "fetch", "--prune", "--quiet", "origin")
    ref = f"refs/heads/{src.branch}" if src.branch else "HEAD"
    return _git("--git-dir", str(src.mirror), "rev-parse", "--verify", f"{ref}^{{commit}}").strip()


def checkout(src: Source, sha: str) -> Path:
    """A clean working tree of `sha` (a git worktree of the mirror, so the reconciler sees
    the commit and the project's place in the repository); returns the specs folder."""
    tree = src.checkouts / sha
    if not (tree / ".git").exists():
        src.checkouts.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tree, ignore_errors=True)
        _git("--git-dir", str(src.mirror), "worktree", "prune")
        _git("--git-dir", str(src.mirror), "worktree", "add", "--detach", "--force", str(tree), sha)
    return tree / src.path if src.path else tree


def forget_old(src: Source, keep: set[str]) -> None:
    """Remove checkouts beyond the newest few, never one in `keep` (the live commit)."""
    if not src.checkouts.exists():
        return
    trees = sorted(src.checkouts.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for tree in trees[KEEP_CHECKOUTS:]:
        if tree.name not in keep:
            shutil.rmtree(tree, ignore_errors=True)
    _git("--git-dir", str(src.mirror), "worktree", "prune")


def changed_files(src: Source, old: str, new: str) -> list[str]:
    """Files that differ between two commits (for the status report)."""
    return [f for f in _git("--git-dir", str(src.mirror), "diff", "--name-only", old, new).splitlines() if f]
