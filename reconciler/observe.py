"""Read the server's state into Resources of the same shape as the desired ones."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .api import ServerAPI
from .inventory import is_inventory_variable, read_inventory
from .lock import LOCK_PREFIX
from .normalize import actual_schedule, deployment_body
from .resources import Resource

INTERNAL_LIMIT_PREFIXES = ("tag:", "deployment:", LOCK_PREFIX)  # server-made or ours, never managed


@dataclass(frozen=True)
class ActualState:
    resources: tuple[Resource, ...]
    inventory: frozenset[str]  # addresses pipeform created for this project/env

    def by_address(self) -> dict[str, Resource]:
        return {r.address: r for r in self.resources}


async def observe(api: ServerAPI, project: str, env: str | None) -> ActualState:
    pools, limits, tag_limits, variables, flows, deployments = await asyncio.gather(
        api.all("/work_pools/filter"),
        api.all("/v2/concurrency_limits/filter"),
        api.all("/concurrency_limits/filter"),
        api.all("/variables/filter"),
        api.all("/flows/filter"),
        api.all("/deployments/filter"),
    )
    out: list[Resource] = []
    queue_lists = await asyncio.gather(*(api.all(f"/work_pools/{p['name']}/queues/filter") for p in pools))
    for pool, queues in zip(pools, queue_lists, strict=True):
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
        for q in queues:
            if q["name"] == "default":
                continue  # every pool has it; pipeform never manages it
            out.append(
                Resource(
                    f"work_queue.{pool['name']}/{q['name']}",
                    "work_queue",
                    f"{pool['name']}/{q['name']}",
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
    inventory = read_inventory(variables, project, env)
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
    flow_names = {f["id"]: f["name"] for f in flows}
    for dep in deployments:
        flow_name = flow_names.get(dep["flow_id"], "?")
        address = f"{flow_name}/{dep['name']}"
        out.append(
            Resource(f"deployment.{address}", "deployment", address, _deployment(dep, flow_name), server_id=dep["id"])
        )
        for sched in dep.get("schedules") or []:
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
    return ActualState(tuple(out), inventory)


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
