"""Helpers shared by the reconciler tests: a project folder per test, and direct requests
to the session's real Prefect server (retried on 503: the SQLite-backed test server
answers it under load, and a test's own bookkeeping read must not fail the test)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

# A one-task Flow and a process WorkPool, named after the project (project_dir replaces NAME):
# what a server test needs before its Deployments, Automations, ... .
FLOW_AND_POOL = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-flow}
spec:
  tasks:
    - {name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: 1}}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-pool}
spec: {type: process}
"""


def project_dir(tmp_path: Path, body: str, name: str | None = None, prefix: str = "t") -> tuple[Path, str]:
    """A folder holding a Project document (unique name) and `body` with NAME replaced."""
    name = name or f"{prefix}{uuid.uuid4().hex[:10]}"
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "project.yaml").write_text(
        f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n---\n"
        + body.replace("NAME", name)
    )
    return d, name


def server(method: str, path: str, body: Any = None, url: str | None = None) -> Any:
    """One request to the server, JSON in and out; retried through 503s and dropped connections."""
    base = url or os.environ["PREFECT_API_URL"]
    for attempt in range(6):
        try:
            r = httpx.request(method, base + path, json=body, timeout=30)
            if r.status_code != 503:
                break
        except httpx.TransportError:
            if attempt == 5:
                raise
        time.sleep(0.5 * 2**attempt)
    r.raise_for_status()
    return r.json() if r.content else None


def apply_specs(path: Path, **kw: Any) -> tuple[Any, Any, Any]:
    """pipeform's apply of the specs at `path`, approved: (plan, outcomes, request counters)."""
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import apply_project
    from pipeform.spec import load_project_or_raise

    async def go() -> tuple[Any, Any, Any]:
        async with ServerAPI.from_env() as api:
            plan, outcomes = await apply_project(api, load_project_or_raise([path]), confirm=lambda p: True, **kw)
            return plan, outcomes, api.counters

    return asyncio.run(go())


def plan_specs(path: Path, **kw: Any) -> Any:
    """pipeform's plan of the specs at `path`."""
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.engine import plan_project
    from pipeform.spec import load_project_or_raise

    async def go() -> Any:
        async with ServerAPI.from_env() as api:
            plan, _ = await plan_project(api, load_project_or_raise([path]), **kw)
            return plan

    return asyncio.run(go())
