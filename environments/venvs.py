"""Worker side: one virtual environment per lock, built once, reused warm, collected when unused.

Layout (PIPEFORM_ENVIRONMENTS_DIR, else <pipeform cache dir>/environments, i.e.
~/.cache/pipeform/environments):

    <key>/            a venv (`uv venv` with the worker's interpreter, `uv pip sync` of the lock)
    <key>/.pipeform-ready   written last (paths.py): a folder without it is a crashed build, rebuilt
    <key>.lock        flock held while building: concurrent runs of the same lock wait, then reuse
    <key>.used        touched on every run
    <key>.inuse       flock held shared by every run in progress (launch.py): `gc` skips it

`key` = the lock's hash + a short hash of the worker's interpreter (paths.py). pipeform itself goes in
by copying the files of its installed distribution (RECORD) into the venv's site-packages:
for an editable install that is its `.pth` finder (the worker's own source), for a wheel
the package itself. No build, no index, exactly the worker's pipeform.
"""

from __future__ import annotations

import fcntl
import os
import py_compile
import shutil
import sys
import time
from collections.abc import Collection
from importlib.metadata import Distribution, distributions
from pathlib import Path

from . import paths
from .lock import Lock, make_lock
from .paths import environments_dir
from .uvtool import run_uv

DEFAULT_MAX_IDLE_S = 7 * 24 * 3600  # server unknown: by idle time only
DEFAULT_GRACE_S = 3600  # no deployment references it: removed after an hour without runs


class EnvironmentBuildError(RuntimeError):
    pass


def _pipeform_dist() -> Distribution:
    """pipeform's installed distribution, found next to the running interpreter's packages
    (never a source tree's egg-info in the current directory)."""
    here = {"", ".", os.getcwd()}
    for dist in distributions(name="pipeform", path=[p for p in sys.path if p not in here]):
        return dist
    raise EnvironmentBuildError("pipeform is not installed in this worker's Python; cannot put it in an environment")


def _pipeform_files() -> list[tuple[Path, str]]:
    dist = _pipeform_dist()
    out = []
    for f in dist.files or []:
        if ".." in f.parts or "__pycache__" in f.parts or f.name in ("RECORD", "INSTALLER", "REQUESTED"):
            continue
        out.append((Path(str(dist.locate_file(f))), str(f)))
    return out


def _record() -> str:
    dist = _pipeform_dist()
    return str(dist.locate_file(next(f for f in dist.files or [] if f.name == "RECORD")))


def env_key(lock: Lock) -> str:
    return paths.env_key(lock.hash)


def python_of(path: Path) -> Path:
    return path / "bin" / "python"


def _site_packages(venv: Path) -> Path:
    v = sys.version_info
    return venv / "lib" / f"python{v.major}.{v.minor}" / "site-packages"


def _build(lock: Lock, path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)  # a crashed earlier build
    res = run_uv("venv", "--quiet", "--python", sys.executable, str(path), index=False)
    if res.code != 0:
        raise EnvironmentBuildError(f"uv venv failed: {res.stderr.strip()}")
    (path / "pipeform.lock.txt").write_text(lock.text)
    # --compile-bytecode: every warm run imports Prefect from this venv; without .pyc files
    # (uv writes none by default, and a worker with PYTHONDONTWRITEBYTECODE never gets them)
    # each run compiles Prefect's sources again, seconds per run (BENCHMARKS.md).
    res = run_uv("pip", "sync", "--quiet", "--compile-bytecode", "--python", str(python_of(path)),
                 str(path / "pipeform.lock.txt"))  # fmt: skip
    if res.code != 0:
        raise EnvironmentBuildError(f"uv pip sync of lock {lock.hash} failed: {res.stderr.strip()}")
    site = _site_packages(path)
    for src, rel in _pipeform_files():
        dest = site / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        if dest.suffix == ".py":  # the editable finder is imported at every interpreter start
            py_compile.compile(str(dest), doraise=False, quiet=1)
    paths.mark_ready(path, lock.hash, _record())
    with open(path.parent / "builds.log", "a") as log:  # one line per build: tests and operators count them
        log.write(f"{path.name} {os.getpid()} {time.time():.3f}\n")


def ensure(lock: Lock) -> Path:
    """The ready environment for `lock`, built now if needed. Safe to call from many
    processes at once: one builds under the file lock, the others wait and reuse it."""
    root = environments_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = env_key(lock)
    path = root / key
    if not paths.is_ready(path):
        with open(root / f"{key}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if not paths.is_ready(path):
                    _build(lock, path)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    (root / f"{key}.used").touch()
    return path


def gc(
    referenced: Collection[str] | None = None, grace_s: float = DEFAULT_GRACE_S, max_idle_s: float = DEFAULT_MAX_IDLE_S
) -> list[str]:
    """Remove environments no deployment needs. With `referenced` (the lock hashes the
    server's deployments carry, usage.py): every other environment once no run started in
    it for `grace_s`; without (server unknown): those unused for `max_idle_s`. Never one a
    run is using (it holds `<key>.inuse`, launch.py) or one being built (`<key>.lock`)."""
    root = environments_dir()
    removed: list[str] = []
    if not root.is_dir():
        return removed
    now = time.time()
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        used = root / f"{path.name}.used"
        last = used.stat().st_mtime if used.exists() else path.stat().st_mtime
        if referenced is not None and path.name.split("-")[0] in referenced:
            continue
        if now - last < (grace_s if referenced is not None else max_idle_s):
            continue
        if _remove_unless_busy(root, path):
            removed.append(path.name)
    return removed


def _remove_unless_busy(root: Path, path: Path) -> bool:
    """Remove one environment under its in-use and build locks, both taken without waiting."""
    with open(root / f"{path.name}.inuse", "a") as inuse, open(root / f"{path.name}.lock", "a") as build:
        for fh in (inuse, build):
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a run is using it, or it is being built
        (path / paths.READY).unlink(missing_ok=True)  # a launcher arriving now rebuilds, never half-uses it
        shutil.rmtree(path, ignore_errors=True)
        # .inuse and .lock stay (empty files): removing a lock file someone may open next
        # would let two processes hold "the" lock on different inodes.
        (root / f"{path.name}.used").unlink(missing_ok=True)
    return True


def lock_from_text(text: str, expected_hash: str | None) -> Lock:
    lock = make_lock(text)
    if expected_hash and lock.hash != expected_hash:
        raise EnvironmentBuildError(f"the environment lock does not match its hash {expected_hash} (got {lock.hash})")
    return lock
