"""A small on-disk cache of JSON values for results that are costly to compute and
depend only on their key (which must hold every input, versions included): a Python
flow's parameter schema, a schedule's validity, the compiled spec validator. It lets a
command skip importing Prefect (about 1 s) when nothing changed.

Location: PIPEFORM_CACHE_DIR, else $XDG_CACHE_HOME/pipeform, else ~/.cache/pipeform.
PIPEFORM_CACHE_DIR=off turns it off. Any error reading or writing only costs time.
Pure standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any


def cache_dir() -> Path | None:
    explicit = os.environ.get("PIPEFORM_CACHE_DIR")
    if explicit == "off":
        return None
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pipeform"


@cache
def versions(*packages: str) -> tuple[str, ...]:
    """Installed versions (without importing the packages), for cache keys."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for p in packages:
        try:
            out.append(version(p))
        except PackageNotFoundError:
            out.append("-")
    return tuple(out)


def _path(namespace: str, key: Any) -> Path | None:
    root = cache_dir()
    if root is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return root / namespace / f"{digest}.json"


def get(namespace: str, key: Any) -> Any:
    """The stored value, or None."""
    path = _path(namespace, key)
    if path is None:
        return None
    try:
        return json.loads(path.read_text())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def put(namespace: str, key: Any, value: Any) -> None:
    path = _path(namespace, key)
    if path is None:
        return
    try:  # write then rename: a reader never sees half a file
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"value": value}))
        os.replace(tmp, path)
    except OSError:
        pass


def get_bytes(namespace: str, key: Any) -> bytes | None:
    path = _path(namespace, key)
    if path is None:
        return None
    try:
        return path.with_suffix(".bin").read_bytes()
    except OSError:
        return None


def put_bytes(namespace: str, key: Any, value: bytes) -> None:
    path = _path(namespace, key)
    if path is None:
        return
    path = path.with_suffix(".bin")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(value)
        os.replace(tmp, path)
    except OSError:
        pass
