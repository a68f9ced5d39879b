"""Read the server's state into Resources of the same shape as the desired ones: only the
objects a project can own (its specs' addresses and its inventory), each kind filtered by
name on the server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .api import ApiError, ServerAPI
from .inventory import inventory_name, is_inventory_variable, owner_tag, read_inventory
from .lock import LOCK_PREFIX
from .normalize import DEPLOYMENT_ACTIONS, actual_schedule, automation_action, automation_body, deployment_body
from .resources import Resource

INTERNAL_LIMIT_PREFIXES = ("tag:", "deployment:", LOCK_PREFIX)  # server-made or ours, never managed


@dataclass(frozen=True)
class ActualState:
    resources: tuple[Resource, ...]
    inventory: frozenset[str]  # addresses pipeform created for this project/env
    errors: tuple[str, ...] = ()  # what observe cannot decide (two automations of an owned name)

    def by_address(self) -> dict[str, Resource]:
        return {r.address: r for r in self.resources}


CHUNK = 100  # names per filtered request: under a page (200), so one request answers a chunk
BY_NAME_MAX = 20  # limits read one by one (GET by name) up to this many, else listed


@dataclass
class _Wanted:
    """What to read, per kind, from a set of addresses."""

    pools: set[str] = field(default_factory=set)
    queues: dict[str, set[str]] = field(default_factory=dict)  # pool -> queue names
    global_limits: set[str] = field(default_factory=set)
    tag_limits: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)
    deployments: set[tuple[str, str]] = field(default_factory=set)  # (flow, deployment)
    automations: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, addresses: Iterable[str]) -> _Wanted:
        w = cls()
        for address in addresses:
            kind, _, name = address.partition(".")
            if kind == "work_pool":
                w.pools.add(name)
            elif kind == "work_queue":
                pool, _, queue = name.partition("/")
                w.queues.setdefault(pool, set()).add(queue)
            elif kind == "global_limit":
                w.global_limits.add(name)
            elif kind == "tag_limit":
                w.tag_limits.add(name)
            elif kind == "variable":
                w.variables.add(name)
            elif kind in ("deployment", "schedule"):  # a schedule is read with its deployment
                dep = name if kind == "deployment" else name.rsplit("/", 1)[0]
                flow, _, dep_name = dep.partition("/")
                w.deployments.add((flow, dep_name))
            elif kind == "automation":
                w.automations.add(name)
        return w

    def empty(self) -> bool:
        return not (
            self.pools
            or self.queues
            or self.global_limits
            or self.tag_limits
            or self.variables
            or self.deployments
            or self.automations
        )

    def minus(self, other: _Wanted) -> _Wanted:
        return _Wanted(
            self.pools - other.pools,
            {p: q - other.queues.get(p, set()) for p, q in self.queues.items() if q - other.queues.get(p, set())},
            self.global_limits - other.global_limits,
            self.tag_limits - other.tag_limits,
            self.variables - other.variables,
            self.deployments - other.deployments,
            self.automations - other.automations,
        )


def _chunks(names: Iterable[Any], size: int = CHUNK) -> list[list[Any]]:
    items = sorted(names)
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _filtered(api: ServerAPI, path: str, key: str, names: set[str]) -> list[dict[str, Any]]:
    """Objects of these names only (paged, chunked by name, chunks concurrently)."""
    parts = await asyncio.gather(*(api.all(path, {key: {"name": {"any_": c}}}) for c in _chunks(names)))
    return [item for part in parts for item in part]


async def _limits(api: ServerAPI, names: set[str], one: str, listing: str, key: str) -> list[dict[str, Any]]:
    """Concurrency limits have no name filter: a few are read by name, many by listing all."""
    if not names:
        return []
    if len(names) <= BY_NAME_MAX:
        found = await asyncio.gather(*(api.request("GET", one.format(n), ok=(404,)) for n in sorted(names)))
        return [f for f in found if f]
    return [lim for lim in await api.all(listing) if lim[key] in names]


async def _queues(api: ServerAPI, pool: str, names: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in _chunks(names):
        try:
            out += await api.all(f"/work_pools/{pool}/queues/filter", {"work_queues": {"name": {"any_": c}}})
        except ApiError as exc:
            if exc.status != 404:  # the pool does not exist: neither do its queues
                raise
    return out


async def _deployments(api: ServerAPI, wanted: set[tuple[str, str]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(flow id -> name, deployments) for these (flow, deployment) pairs. A chunk's filter
    (flow name in ..., deployment name in ...) can also match other pairs; the caller keeps
    only the wanted ones."""
    if not wanted:
        return {}, []
    flows, *parts = await asyncio.gather(
        _filtered(api, "/flows/filter", "flows", {f for f, _ in wanted}),
        *(
            api.all(
                "/deployments/filter",
                {
                    "flows": {"name": {"any_": sorted({f for f, _ in c})}},
                    "deployments": {"name": {"any_": sorted({d for _, d in c})}},
                },
            )
            for c in _chunks(wanted)
        ),
    )
    seen: dict[str, dict[str, Any]] = {}
    for part in parts:
        for dep in part:
            seen.setdefault(dep["id"], dep)  # chunks may overlap in what they match
    return {f["id"]: f["name"] for f in flows}, list(seen.values())


async def _automations(api: ServerAPI, names: set[str], owner: str, errors: list[str]) -> list[Resource]:
    """Automations of these names. Names are not unique on the server: the one carrying the
    project's owner tag is pipeform's (same-name automations made by hand are left out);
    with none tagged, a single same-name one stands for the name (plan refuses to take it
    over without --adopt); two tagged, or two untagged and none tagged, is an error rather
    than a guess. Deployment ids in actions are mapped back to FLOW/NAME."""
    if not names:
        return []
    by_name: dict[str, list[dict[str, Any]]] = {}
    for auto in await _filtered(api, "/automations/filter", "automations", names):
        by_name.setdefault(auto["name"], []).append(auto)
    chosen: list[dict[str, Any]] = []
    for name, found in sorted(by_name.items()):
        if name not in names:
            continue
        tagged = [a for a in found if owner in (a.get("tags") or [])]
        pick = tagged or found
        if len(pick) > 1:
            ids = ", ".join(sorted(a["id"] for a in pick))
            which = f"carry the tag {owner!r}" if tagged else "exist and none is tagged as pipeform's"
            errors.append(
                f"automation.{name}: {len(pick)} automations named {name!r} {which} ({ids});"
                " delete or rename the extra ones on the server"
            )
            continue
        chosen.append(pick[0])
    ids = {
        a["deployment_id"]
        for auto in chosen
        for key in ("actions", "actions_on_trigger", "actions_on_resolve")
        for a in auto.get(key) or []
        if a.get("type") in DEPLOYMENT_ACTIONS and a.get("deployment_id")
    }
    names_by_id = await _deployment_names(api, ids)
    out = []
    for auto in chosen:

        def actions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            result = []
            for a in items or []:
                dep_id = a.get("deployment_id") if a.get("source", "selected") == "selected" else None
                dep = (names_by_id.get(dep_id) or f"<unknown deployment {dep_id}>") if dep_id else None
                result.append(automation_action(a, dep))
            return result

        body = automation_body(
            description=auto.get("description"),
            enabled=auto.get("enabled", True),
            tags=auto.get("tags") or [],
            trigger=auto.get("trigger") or {},
            actions=actions(auto.get("actions")),
            actions_on_trigger=actions(auto.get("actions_on_trigger")),
            actions_on_resolve=actions(auto.get("actions_on_resolve")),
        )
        out.append(Resource(f"automation.{auto['name']}", "automation", auto["name"], body, server_id=auto["id"]))
    return out


async def _deployment_names(api: ServerAPI, ids: set[str]) -> dict[str, str]:
    """deployment id -> FLOW/NAME (deleted deployments are left out)."""
    if not ids:
        return {}
    parts = await asyncio.gather(
        *(api.all("/deployments/filter", {"deployments": {"id": {"any_": c}}}) for c in _chunks(ids))
    )
    deployments = [d for part in parts for d in part]
    flow_ids = {d["flow_id"] for d in deployments}
    flows = await asyncio.gather(*(api.all("/flows/filter", {"flows": {"id": {"any_": c}}}) for c in _chunks(flow_ids)))
    flow_names = {f["id"]: f["name"] for part in flows for f in part}
    return {d["id"]: f"{flow_names.get(d['flow_id'], '?')}/{d['name']}" for d in deployments}


async def _read(api: ServerAPI, w: _Wanted, owner: str = "", errors: list[str] | None = None) -> list[Resource]:
    errors = [] if errors is None else errors
    pools, limits, tag_limits, variables, (flow_names, deployments), automations = await asyncio.gather(
        _filtered(api, "/work_pools/filter", "work_pools", w.pools | set(w.queues)) if w.pools or w.queues else _none(),
        _limits(api, w.global_limits, "/v2/concurrency_limits/{}", "/v2/concurrency_limits/filter", "name"),
        _limits(api, w.tag_limits, "/concurrency_limits/tag/{}", "/concurrency_limits/filter", "tag"),
        _filtered(api, "/variables/filter", "variables", w.variables) if w.variables else _none(),
        _deployments(api, w.deployments),
        _automations(api, w.automations, owner, errors),
    )
    out: list[Resource] = list(automations)
    existing = {p["name"] for p in pools}
    queue_pools = sorted(p for p in w.queues if p in existing)
    queue_lists = await asyncio.gather(*(_queues(api, p, w.queues[p]) for p in queue_pools))
    for pool in pools:
        if pool["name"] not in w.pools:
            continue  # read only to reach its queues
        out.append(
            Resource(
                f"work_pool.{pool['name']}",
                "work_pool",
                pool["name"],
                {
                    "type": pool["type"],
                    "description": pool.get("description"),
                    "concurrency_limit": pool.get("concurrency_limit"),
                    "is_paused": bool(pool.get("is_paused")),
                    "base_job_template": pool.get("base_job_template") or {},
                },
                server_id=pool["id"],
            )
        )
    for pool_name, queues in zip(queue_pools, queue_lists, strict=True):
        for q in queues:
            if q["name"] == "default" or q["name"] not in w.queues[pool_name]:
                continue  # every pool has `default`; pipeform never manages it
            out.append(
                Resource(
                    f"work_queue.{pool_name}/{q['name']}",
                    "work_queue",
                    f"{pool_name}/{q['name']}",
                    {
                        "description": q.get("description") or "",
                        "concurrency_limit": q.get("concurrency_limit"),
                        "priority": q.get("priority"),
                        "is_paused": bool(q.get("is_paused")),
                    },
                    server_id=q["id"],
                )
            )
    for lim in limits:
        if lim["name"].startswith(INTERNAL_LIMIT_PREFIXES):
            continue
        body = {
            "limit": lim["limit"],
            "active": lim["active"],
            "slot_decay_per_second": lim.get("slot_decay_per_second") or 0.0,
        }
        out.append(Resource(f"global_limit.{lim['name']}", "global_limit", lim["name"], body, server_id=lim["id"]))
    for lim in tag_limits:
        out.append(
            Resource(
                f"tag_limit.{lim['tag']}",
                "tag_limit",
                lim["tag"],
                {"concurrency_limit": lim["concurrency_limit"]},
                server_id=lim["id"],
            )
        )
    for var in variables:
        if var["name"].startswith(LOCK_PREFIX) or is_inventory_variable(var["name"]):
            continue  # pipeform's own bookkeeping, never managed or compared
        out.append(
            Resource(
                f"variable.{var['name']}",
                "variable",
                var["name"],
                {"value": var["value"], "tags": sorted(var.get("tags") or [])},
                server_id=var["id"],
            )
        )
    for dep in deployments:
        flow_name = flow_names.get(dep["flow_id"])
        if flow_name is None or (flow_name, dep["name"]) not in w.deployments:
            continue  # matched the chunk's name filters, but is another flow's deployment
        address = f"{flow_name}/{dep['name']}"
        out.append(
            Resource(f"deployment.{address}", "deployment", address, _deployment(dep, flow_name), server_id=dep["id"])
        )
        for sched in dep.get("schedules") or []:  # all of them: a schedule left out of the spec is deleted
            slug = sched.get("slug") or f"id-{sched['id']}"
            out.append(
                Resource(
                    f"schedule.{address}/{slug}",
                    "schedule",
                    f"{address}/{slug}",
                    actual_schedule(sched, slug),
                    server_id=sched["id"],
                )
            )
    return out


async def _none() -> list[dict[str, Any]]:
    return []


async def observe(
    api: ServerAPI, project: str, env: str | None, scope: Iterable[str], *, owned: bool = True
) -> ActualState:
    """The server's state of the objects at `scope` (addresses; a deployment comes with all
    its schedules) and, with owned=True, of every object in the project's inventory too (so
    an owned object that left the specs shows up for prune and drift). Nothing else is read:
    a server's other objects, however many, cost nothing and can never be touched.

    The inventory and the scope are read concurrently; owned objects outside the scope are
    read in a second round (usually empty: what pipeform owns is mostly what the specs say)."""
    wanted = _Wanted.of(scope)
    name = inventory_name(project, env)
    owner, errors = owner_tag(project), []
    inventory_vars, resources = await asyncio.gather(
        api.all("/variables/filter", {"variables": {"name": {"like_": name}}}), _read(api, wanted, owner, errors)
    )
    inventory = read_inventory(inventory_vars, project, env)
    if owned:
        extra = _Wanted.of(inventory).minus(wanted)
        if not extra.empty():
            have = {r.address for r in resources}
            resources += [r for r in await _read(api, extra, owner, errors) if r.address not in have]
    # An owned automation name whose only automation lacks the owner tag: pipeform's was
    # deleted and someone made another by hand. Not ours to update or prune: ours is missing.
    resources = [
        r for r in resources if not (r.kind == "automation" and r.address in inventory and owner not in r.body["tags"])
    ]
    return ActualState(tuple(resources), inventory, tuple(errors))


def _deployment(dep: dict[str, Any], flow_name: str) -> dict[str, Any]:
    gcl = dep.get("global_concurrency_limit") or {}
    options = dep.get("concurrency_options") or {}
    return deployment_body(
        flow_name=flow_name,
        entrypoint=dep.get("entrypoint"),
        work_pool_name=dep.get("work_pool_name"),
        work_queue_name=dep.get("work_queue_name"),
        parameters=dep.get("parameters"),
        job_variables=dep.get("job_variables"),
        tags=dep.get("tags"),
        description=dep.get("description"),
        version=dep.get("version"),
        paused=bool(dep.get("paused")),
        enforce_parameter_schema=dep.get("enforce_parameter_schema", True),
        pull_steps=dep.get("pull_steps"),
        parameter_openapi_schema=dep.get("parameter_openapi_schema"),
        concurrency_limit=gcl.get("limit") if gcl else dep.get("concurrency_limit"),
        collision_strategy=options.get("collision_strategy"),
        grace_period_seconds=options.get("grace_period_seconds"),
    )
