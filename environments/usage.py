"""Which environments the server's deployments still use: the lock hashes their job
variables carry (PIPEFORM_ENVIRONMENT_HASH, set by deploy.py). `venvs.gc` keeps those and
removes the rest. Side effect: reads every deployment from the server (paged)."""

from __future__ import annotations

import asyncio
from typing import Any

from .launch import HASH_VAR


def hashes_of(deployments: list[dict[str, Any]]) -> set[str]:
    out = set()
    for dep in deployments:
        env = (dep.get("job_variables") or {}).get("env")
        value = env.get(HASH_VAR) if isinstance(env, dict) else None
        if isinstance(value, str) and value:
            out.add(value)
    return out


async def referenced_hashes(api: Any) -> set[str]:
    """Lock hashes of every deployment on the server (all of them, not only pipeform's: a
    hash another tool wrote is kept too)."""
    return hashes_of(await api.all("/deployments/filter"))


def server_references(url: str, api_key: str | None = None) -> set[str]:
    from pipeform.reconciler.api import ServerAPI

    async def read() -> set[str]:
        async with ServerAPI(url, api_key) as api:
            return await referenced_hashes(api)

    return asyncio.run(read())
