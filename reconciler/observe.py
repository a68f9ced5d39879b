"""Read the server's state into Resources of the same shape as the desired ones: only the
objects a project can own (its specs' addresses and its inventory), each kind filtered by
name on the server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipeform.spec.diagnostics import Diagnostic

from .api import ServerAPI
from .inventory import inventory_name, owner_tag, read_inventory
from .kinds import KINDS, REGISTRY, ObserveContext
from .resources import Resource


@dataclass(frozen=True)
class ActualState:
    resources: tuple[Resource, ...]
    inventory: frozenset[str]  # addresses pipeform created for this project/env
    errors: tuple[Diagnostic, ...] = ()  # what observe cannot decide (two automations of an owned name)

    def by_address(self) -> dict[str, Resource]:
        return {r.address: r for r in self.resources}


Wanted = dict[str, frozenset[str]]  # kind -> names to read


def wanted_of(addresses: Iterable[str]) -> Wanted:
    """What to read, per kind; an object read with its parent (a schedule with its
    deployment) asks for the parent."""
    out: dict[str, set[str]] = {}
    for address in addresses:
        kind, _, name = address.partition(".")
        k = KINDS.get(kind)
        if k is None:
            continue
        if k.observed_with:
            parent = k.parent_of(name) or ""
            kind, _, name = parent.partition(".")
        out.setdefault(kind, set()).add(name)
    return {k: frozenset(v) for k, v in out.items()}


def _minus(a: Wanted, b: Wanted) -> Wanted:
    out = {k: names - b.get(k, frozenset()) for k, names in a.items()}
    return {k: v for k, v in out.items() if v}


async def _read(
    api: ServerAPI, wanted: Wanted, owner: str, errors: list[Diagnostic], origins: Mapping[str, str | None]
) -> list[Resource]:
    ctx = ObserveContext(api, owner, wanted, errors, origins)
    parts = await asyncio.gather(*(k.observe(ctx, wanted.get(k.name, frozenset())) for k in REGISTRY))
    return [r for part in parts for r in part]


async def observe(
    api: ServerAPI,
    project: str,
    env: str | None,
    scope: Iterable[str],
    *,
    owned: bool = True,
    origins: Mapping[str, str | None] | None = None,
) -> ActualState:
    """The server's state of the objects at `scope` (addresses; a deployment comes with all
    its schedules) and, with owned=True, of every object in the project's inventory too (so
    an owned object that left the specs shows up for prune and drift). Nothing else is read:
    a server's other objects, however many, cost nothing and can never be touched.

    The inventory and the scope are read concurrently; owned objects outside the scope are
    read in a second round (usually empty: what pipeform owns is mostly what the specs say).
    `origins` (address -> spec document) locate the errors."""
    wanted = wanted_of(scope)
    name = inventory_name(project, env)
    owner, errors, where = owner_tag(project), list[Diagnostic](), origins or {}
    inventory_vars, resources = await asyncio.gather(
        api.all("/variables/filter", {"variables": {"name": {"like_": name}}}), _read(api, wanted, owner, errors, where)
    )
    inventory = read_inventory(inventory_vars, project, env)
    if owned:
        extra = _minus(wanted_of(inventory), wanted)
        if extra:
            have = {r.address for r in resources}
            resources += [r for r in await _read(api, extra, owner, errors, where) if r.address not in have]
    resources = [r for r in resources if KINDS[r.kind].keep_observed(r, inventory, owner)]
    return ActualState(tuple(resources), inventory, tuple(errors))
