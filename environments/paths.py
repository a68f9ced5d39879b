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
import sys
from pathlib import Path

READY = ".pipeform-ready"


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


def is_ready(path: Path) -> bool:
    try:
        info = json.loads((path / READY).read_text())
        return os.stat(info["record"]).st_mtime == info["mtime"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def mark_ready(path: Path, lock: str, record: str) -> None:
    (path / READY).write_text(json.dumps({"lock": lock, "record": record, "mtime": os.stat(record).st_mtime}))
