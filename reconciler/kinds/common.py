"""Small helpers several kinds use."""

from __future__ import annotations

import json
import os
from typing import Any

from pipeform.spec.project import Project

from ..resources import MASK

# Concurrency limits the server makes (tag:*, deployment:*): never resources, never imported.
SERVER_LIMIT_PREFIXES = ("tag:", "deployment:")


def origin(project: Project, kind: str, name: str) -> str | None:
    """file:line:col of the document that declares an object."""
    o = project.origin(kind, name)
    return str(o) if o else None


def compact(d: dict[str, Any]) -> dict[str, Any]:
    """A spec mapping without its empty or default fields (for `pipeform import`)."""
    return {k: v for k, v in d.items() if v not in (None, {}, [], False) or k in ("value", "limit")}


def secrets_filled(body: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of a change's body with its secrets read again from this environment: a
    saved plan holds masks, never secrets (`_secret_sources` names their variables)."""
    sources = (body or {}).get("_secret_sources") or {}
    out: dict[str, Any] = json.loads(json.dumps(body))
    for path, var in sources.items():
        keys = path.split(".")
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if not os.environ.get(var):
            raise ValueError(f"${var} is not set (or empty): this secret is read from the environment")
        node[keys[-1]] = os.environ[var]
    if MASK in json.dumps(out):
        raise ValueError("this saved plan holds a masked sensitive value that cannot be re-read; run plan again")
    return out
