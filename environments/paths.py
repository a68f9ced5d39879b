"""Where environments live and whether one is ready: standard library only, so the
launcher's warm path (every flow run) imports nothing else (neither importlib.metadata
nor uv's helpers).

    <dir>/<lock hash>-<worker hash>/        the venv
    <dir>/<...>/.pipeform-ready             JSON written last: lock hash, and the worker's
                                             pipeform RECORD path and mtime it was copied from
`worker hash` names the worker's interpreter (sys.prefix): a pipeform upgraded in place
(its RECORD changes) makes the environment stale, and it is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

READY = ".pipeform-ready"
# Bumped when a build changes in a way existing environments lack (2: bytecode compiled):
# an environment marked with an older format is rebuilt.
READY_FORMAT = 2


def environments_dir() -> Path:
    """Absolute and independent of the working directory: the worker and every flow run's
    launcher (which starts in the run's own folder) must agree on it."""
    explicit = os.environ.get("PIPEFORM_ENVIRONMENTS_DIR")
    if explicit:
        return Path(explicit).resolve()
    cache = os.environ.get("PIPEFORM_CACHE_DIR")
    if cache and cache != "off":
        return Path(cache).resolve() / "environments"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").resolve() / "pipeform" / "environments"


def env_key(lock_hash: str) -> str:
    worker = hashlib.sha256(os.path.realpath(sys.prefix).encode()).hexdigest()[:6]
    return f"{lock_hash}-{worker}"


def lock_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_ARCH = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "x86": "i686", "i386": "i686"}
# uv's --python-platform shorthands.
_ALIASES = {"linux": "x86_64-unknown-linux-gnu", "macos": "aarch64-apple-darwin", "windows": "x86_64-pc-windows-msvc"}


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def this_platform() -> str:
    """This machine as a uv --python-platform triple (libc and glibc version not told apart)."""
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    if sys.platform == "darwin":
        return f"{arch}-apple-darwin"
    if sys.platform == "win32":
        return f"{arch}-pc-windows-msvc"
    return f"{arch}-unknown-linux-gnu"


def platform_family(name: str) -> tuple[str, str]:
    """(os, architecture) a uv platform name targets: what a wheel in the lock depends on."""
    name = _ALIASES.get(name, name)
    arch = name.split("-")[0]
    os_name = "macos" if "darwin" in name else "windows" if "windows" in name else "linux"
    return os_name, _ARCH.get(arch, arch)


def lock_target(text: str) -> dict[str, str]:
    """The `key=value` fields of a lock's first line (python, platform, prefect)."""
    first = text.split("\n", 1)[0]
    return dict(f.split("=", 1) for f in first.split() if "=" in f)


def target_mismatch(text: str) -> str | None:
    """Why this interpreter cannot run a lock resolved for another Python or platform, else None."""
    target = lock_target(text)
    problems = []
    if target.get("python") not in (None, python_version()):
        problems.append(f"Python {target['python']} (this worker runs Python {python_version()}, {sys.executable})")
    if "platform" in target and platform_family(target["platform"]) != platform_family(this_platform()):
        want, have = platform_family(target["platform"]), platform_family(this_platform())
        problems.append(f"{'/'.join(want)} (this worker is {'/'.join(have)})")
    if not problems:
        return None
    return "its lock was resolved for " + " and ".join(problems)


def is_ready(path: Path) -> bool:
    try:
        info = json.loads((path / READY).read_text())
        return bool(info.get("format") == READY_FORMAT and os.stat(info["record"]).st_mtime == info["mtime"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def mark_ready(path: Path, lock: str, record: str) -> None:
    (path / READY).write_text(
        json.dumps({"format": READY_FORMAT, "lock": lock, "record": record, "mtime": os.stat(record).st_mtime})
    )
