"""Locking an Environment at plan time: its requirements resolved together with the
Prefect version of this machine (a constraint) and pipeform's own requirements, by
`uv pip compile`, into an exact list of `name==version` pins.

The lock is the Environment's identity: its hash names the virtual environment a worker
builds, goes into the deployment's version and job variables, and shows in the plan. A
lock is computed once per input (requirements, the files they name, versions of Prefect
and Python, the index options) and kept in pipeform's disk cache, so a repeated plan on
the same machine gives the same pins without calling uv. To pin across machines, name a
lock file: `requirements_file: uv.lock` (exported with `uv export --frozen`) or a fully
pinned requirements.txt; its pins are then the input, so the result does not move.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from pipeform import diskcache

from .paths import lock_hash, lock_target, python_version, this_platform
from .uvtool import index_args, run_uv

LOCK_FORMAT = "pipeform-lock/1"
# Task runners whose Prefect integration is a separate package (prefect-dask, prefect-ray).
RUNNER_PLUGINS = {"dask": "prefect-dask", "ray": "prefect-ray"}


class LockError(Exception):
    """uv could not resolve the requirements; `detail` is uv's own explanation."""

    def __init__(self, message: str, detail: str = ""):
        self.detail = detail
        super().__init__(message)


@dataclass(frozen=True)
class LockInput:
    """What an Environment asks for, as plain values (file contents already read)."""

    requirements: tuple[str, ...] = ()
    file_name: str | None = None  # requirements.txt, pyproject.toml or uv.lock
    file_text: str | None = None
    plugins: tuple[str, ...] = ()  # added for the flows' task runners
    python: str | None = None  # the workers' Python (3.X); None: this machine's
    platform: str | None = None  # the workers' platform (uv --python-platform); None: this machine's

    @property
    def target(self) -> tuple[str, str]:
        """(Python version, platform) the lock is resolved for."""
        return self.python or python_version(), self.platform or this_platform()


@dataclass(frozen=True)
class Lock:
    text: str  # header + sorted pins, one per line
    hash: str  # sha256 of text, 16 hex digits

    @property
    def python(self) -> str:
        """The Python version (3.X) the lock was resolved for."""
        return lock_target(self.text).get("python", python_version())

    @property
    def pins(self) -> dict[str, str]:
        out = {}
        for line in self.text.splitlines():
            if "==" in line and not line.startswith("#"):
                name, _, ver = line.partition("==")
                out[name.strip()] = ver.split(";")[0].strip()
        return out


def pipeform_requirements() -> list[str]:
    """pipeform's own runtime requirements (no extras): the environment runs pipeform's loader."""
    try:
        reqs = requires("pipeform") or []
    except PackageNotFoundError:
        return []
    return [r for r in reqs if "extra ==" not in r]


def worker_versions() -> dict[str, str]:
    return {"prefect": version("prefect")}


REQUESTED = "# requested: "


def lock_text(pins: str, requested: tuple[str, ...] = (), target: tuple[str, str] | None = None) -> str:
    """The lock: a format line (with the Python and platform it targets: a worker with
    another one refuses it, paths.target_mismatch), what was asked for (shown by plans),
    then sorted pins."""
    lines = sorted(
        {ln.strip() for ln in pins.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "-"))},
        key=str.lower,
    )
    py, plat = target or (python_version(), this_platform())
    header = [f"# {LOCK_FORMAT} python={py} platform={plat} prefect={version('prefect')}"]
    if requested:
        header.append(REQUESTED + ", ".join(requested))
    return "\n".join([*header, *lines]) + "\n"


def requested(req: LockInput) -> tuple[str, ...]:
    return (*req.requirements, *((f"-r {os.path.basename(req.file_name)}",) if req.file_name else ()), *req.plugins)


def make_lock(text: str) -> Lock:
    return Lock(text, lock_hash(text))


def _compile_inputs(req: LockInput, tmp: Path) -> list[str]:
    """Files for `uv pip compile`: the requirements (and a named file), as arguments."""
    args = []
    lines = [*req.requirements, *req.plugins, *pipeform_requirements()]
    if req.file_name and req.file_text is not None:
        base = os.path.basename(req.file_name)
        if base == "uv.lock":
            lines += _export_uv_lock(req.file_text, tmp)
        else:
            named = tmp / ("pyproject.toml" if base == "pyproject.toml" else "named-requirements.txt")
            named.write_text(req.file_text)
            args.append(str(named))
    (tmp / "requirements.in").write_text("\n".join(lines) + "\n")
    return [str(tmp / "requirements.in"), *args]


def _export_uv_lock(text: str, tmp: Path) -> list[str]:
    """A uv.lock's pins, via `uv export --frozen` (no resolution, no network)."""
    proj = tmp / "uvlock"
    proj.mkdir()
    (proj / "uv.lock").write_text(text)
    name = re.search(r'\[\[package\]\]\s*name = "([^"]+)"\s*version = "[^"]*"\s*source = \{ (?:editable|virtual)', text)
    (proj / "pyproject.toml").write_text(f'[project]\nname = "{name.group(1) if name else "project"}"\nversion = "0"\n')
    res = run_uv("export", "--frozen", "--no-hashes", "--no-emit-project", "--format", "requirements-txt",
                 "--project", str(proj), index=False)  # fmt: skip
    if res.code != 0:
        raise LockError("uv could not read the uv.lock", res.stderr.strip())
    return [ln for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith(("#", " ", "-"))]


def lock(req: LockInput) -> Lock:
    """The lock for `req`: from the disk cache, else resolved by uv (raises LockError)."""
    key = (LOCK_FORMAT, "target", req.requirements, req.file_name, req.file_text, req.plugins, pipeform_requirements(),
           worker_versions(), req.target, index_args())  # fmt: skip
    cached = diskcache.get("environment-locks", key)
    if isinstance(cached, str):
        return make_lock(cached)
    with tempfile.TemporaryDirectory(prefix="pipeform-lock-") as d:
        tmp = Path(d)
        inputs = _compile_inputs(req, tmp)
        (tmp / "constraints.txt").write_text(f"prefect=={version('prefect')}\n")
        py, plat = req.target
        res = run_uv("pip", "compile", *inputs, "-c", str(tmp / "constraints.txt"), "--python-version", py,
                     "--python-platform", plat, "--no-header", "--no-annotate", "--quiet", "--color", "never")  # fmt: skip
    if res.code != 0:
        target = f" for Python {py} on {plat}" if (req.python or req.platform) else ""
        raise LockError(f"the requirements cannot be resolved together with Prefect{target}", _clean(res.stderr))
    text = lock_text(res.stdout, requested(req), req.target)
    diskcache.put("environment-locks", key, text)
    return make_lock(text)


def _clean(stderr: str) -> str:
    """uv's explanation without temporary paths."""
    text = re.sub(r"\S*pipeform-lock-[^/\s]+/", "", stderr.strip())
    return text.replace("requirements.in", "the Environment's requirements")
