"""WorkPool documents -> work pools (`work_pool.<name>`). The type cannot change in place
(replace); the base job template is compared only at the paths the spec sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..api import ApiError, ServerAPI, seg
from ..changes import ResourceChange
from ..resources import Resource, deep_merge
from .base import ApplyContext, Body, ImportedDoc, Kind, NotImported, ObserveContext, filtered
from .common import compact, origin, secrets_filled

if TYPE_CHECKING:
    from ..inputs import DesiredInput


async def server_pools(ctx: ObserveContext) -> list[dict[str, Any]]:
    """The wanted pools and the pools of the wanted queues, in one request for both kinds."""
    from .work_queue import WORK_QUEUE  # the queue kind names its pools; read once for both

    names = set(ctx.names(WORK_POOL.name)) | {WORK_QUEUE.pool(n) for n in ctx.names(WORK_QUEUE.name)}
    if not names:
        return []
    pools: list[dict[str, Any]] = await ctx.once(
        "work_pools", lambda: filtered(ctx.api, "/work_pools/filter", "work_pools", names)
    )
    return pools


def _subset(actual: Any, wanted: Any) -> Any:
    """The part of `actual` at the paths `wanted` sets (job template overrides)."""
    if isinstance(wanted, dict) and isinstance(actual, dict):
        return {k: _subset(actual.get(k), v) for k, v in wanted.items()}
    return actual


class WorkPoolKind(Kind):
    name = "work_pool"
    order = 0
    document = "WorkPool"
    import_file = "work-pools.yaml"
    replace_on = ("type",)

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        for name, doc in project.work_pools.items():
            s = doc.spec
            body = {
                "type": s.type,
                "description": s.description or doc.metadata.description,  # as Deployment and Automation
                "concurrency_limit": s.concurrency_limit,
                "is_paused": s.paused,
                "base_job_template": s.base_job_template,
            }
            yield self.resource(name, body, origin=origin(project, "WorkPool", name))

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        if not names:
            return []
        return [
            self.resource(
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
            for pool in await server_pools(ctx)
            if pool["name"] in names  # others were read only to reach their queues
        ]

    def comparable(self, want: Body, have: Body) -> tuple[Body, Body]:
        want, have = super().comparable(want, have)
        have["base_job_template"] = _subset(have.get("base_job_template"), want.get("base_job_template") or {})
        return want, have

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        b = secrets_filled(c.after)
        template = await _job_template(ctx.api, b["type"], b.get("base_job_template") or {})
        body = {
            "name": c.name,
            "type": b["type"],
            "description": b["description"],
            "is_paused": b["is_paused"],
            "concurrency_limit": b["concurrency_limit"],
            "base_job_template": template,
        }
        await ctx.api.request("POST", "/work_pools/", body)

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        b = secrets_filled(c.after)
        fields = c.changed_fields
        patch: dict[str, Any] = {k: b[k] for k in ("description", "is_paused", "concurrency_limit") if k in fields}
        if "base_job_template" in fields:
            current = (await ctx.api.request("GET", f"/work_pools/{seg(c.name)}"))["base_job_template"]
            patch["base_job_template"] = deep_merge(current, b["base_job_template"])
        await ctx.api.request("PATCH", f"/work_pools/{seg(c.name)}", patch)

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/work_pools/{seg(c.name)}", ok=(404,))

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        pools = await api.all("/work_pools/filter")
        return {
            "pools": pools,
            "queues": {p["name"]: await api.all(f"/work_pools/{seg(p['name'])}/queues/filter") for p in pools},
        }

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        for pool in server["pools"]:
            queues = [
                compact(
                    {
                        "name": q["name"],
                        "description": q.get("description"),
                        "concurrency_limit": q.get("concurrency_limit"),
                        "priority": q.get("priority"),
                        "paused": bool(q.get("is_paused")),
                    }
                )
                for q in server["queues"].get(pool["name"], [])
                if q["name"] != "default"
            ]
            spec = {
                "type": pool["type"],
                "description": pool.get("description"),
                "concurrency_limit": pool.get("concurrency_limit"),
                "paused": bool(pool.get("is_paused")),
                "queues": queues,
            }
            yield ImportedDoc("WorkPool", pool["name"], compact(spec))


async def _job_template(api: ServerAPI, pool_type: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The worker type's default base job template (from the server's worker metadata, or
    Prefect's own for `process`) with the spec's overrides merged in."""
    base: dict[str, Any] = {}
    try:
        meta = await api.request("GET", "/collections/views/aggregate-worker-metadata", ok=(404,))
    except ApiError:
        meta = None
    for collection in (meta or {}).values():
        for worker in collection.values() if isinstance(collection, dict) else ():
            if isinstance(worker, dict) and worker.get("type") == pool_type:
                base = worker.get("default_base_job_configuration") or {}
    if not base and pool_type == "process":
        from prefect.workers.process import ProcessWorker  # the default template ships with Prefect

        base = ProcessWorker.get_default_base_job_template()
    return deep_merge(base, overrides)


WORK_POOL = WorkPoolKind()
