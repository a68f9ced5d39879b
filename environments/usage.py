"""Which environments the server's deployments still use: the lock hashes their job
variables carry (PIPEFORM_ENVIRONMENT_HASH, set by deploy.py). `venvs.gc` keeps those and
removes the rest. `referenced_hashes` reads every deployment (paged) through the API client
it is given (the CLI's; this layer imports no reconciler)."""

from __future__ import annotations

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
