"""Ownership: what pipeform created, kept on the Prefect server itself.

The inventory of one project+env is a JSON list of addresses in Prefect variables named
`pipeform-inventory-<project>[-<env>]` (chunked into `...--1`, `...--2` when longer than a
variable may hold). Objects whose kind has tags also carry `pipeform:<project>`
(deployments, variables, automations), so people see in the UI who manages them. Only inventory
members are ever updated without --adopt or deleted by --prune; a failed delete stays in
the inventory and is retried by the next prune.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from .api import ServerAPI, seg

PREFIX = "pipeform-inventory-"
CONTROL_PREFIX = "pipeform-sync-"  # the controller's suspend switch (sync/status.py): bookkeeping too
OWNER_TAG_PREFIX = "pipeform:"
CHUNK = 4000  # characters per variable (Prefect allows 5000)


def owner_tag(project: str) -> str:
    return f"{OWNER_TAG_PREFIX}{project}"


def inventory_name(project: str, env: str | None) -> str:
    base = f"{PREFIX}{project}" + (f"-{env}" if env else "")
    return base.replace(".", "-")


def is_inventory_variable(name: str) -> bool:
    """pipeform's bookkeeping variables: never managed, compared or imported."""
    return name.startswith((PREFIX, CONTROL_PREFIX))


def read_inventory(variables: Iterable[dict[str, Any]], project: str, env: str | None) -> frozenset[str]:
    """The owned addresses, from the variables listed by observe."""
    mine = inventory_name(project, env)
    return frozenset(
        a for var in variables if var["name"] == mine or var["name"].startswith(mine + "--") for a in _addresses(var)
    )


def all_owned(variables: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Every address any project's inventory holds (for `pipeform import`, which reads all)."""
    return frozenset(a for var in variables if var["name"].startswith(PREFIX) for a in _addresses(var))


def _addresses(var: dict[str, Any]) -> list[str]:
    """The addresses one inventory variable holds (a JSON list; anything else holds none:
    a variable of that name pipeform did not write owns nothing)."""
    value = var["value"]
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return [i for i in items if isinstance(i, str)] if isinstance(items, list) else []


def chunks(owned: Iterable[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for item in sorted(owned):
        if out[-1] and len(json.dumps([*out[-1], item])) > CHUNK:
            out.append([])
        out[-1].append(item)
    return out


async def write_inventory(api: ServerAPI, project: str, env: str | None, owned: Iterable[str]) -> None:
    """Write the chunks concurrently (a large project has dozens), then drop surplus ones."""
    name = inventory_name(project, env)
    parts = chunks(owned)
    existing = {v["name"] for v in await api.all("/variables/filter", {"variables": {"name": {"like_": name}}})}

    async def put(var: str, chunk: list[str]) -> None:
        body = {"value": json.dumps(chunk), "tags": ["pipeform-inventory"]}
        if var in existing:
            await api.request("PATCH", f"/variables/name/{seg(var)}", body)
        else:
            await api.request("POST", "/variables/", {"name": var, **body})

    results = await asyncio.gather(
        *(put(name if i == 0 else f"{name}--{i}", chunk) for i, chunk in enumerate(parts)), return_exceptions=True
    )
    for r in results:
        if isinstance(r, BaseException):
            raise r  # after every chunk was tried: none is left half-sent in the background
    surplus = []
    for var in existing:
        suffix = var.removeprefix(name)
        if suffix.startswith("--") and suffix[2:].isdigit() and int(suffix[2:]) >= len(parts):
            surplus.append(var)
    await asyncio.gather(*(api.request("DELETE", f"/variables/name/{seg(var)}", ok=(404,)) for var in surplus))
