"""ConcurrencyLimit documents -> global concurrency limits (`global_limit.<name>`) or, with
`tag`, tag-based task run limits (`tag_limit.<tag>`). Limits have no name filter on the
server: up to BY_NAME_MAX are read one by one, more by listing them all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..api import ServerAPI, seg
from ..changes import ResourceChange
from ..lock import LOCK_PREFIX
from ..resources import Resource
from .base import ApplyContext, ImportedDoc, Kind, NotImported, ObserveContext
from .common import SERVER_LIMIT_PREFIXES, compact, origin

if TYPE_CHECKING:
    from ..inputs import DesiredInput

BY_NAME_MAX = 20  # limits read one by one (GET by name) up to this many, else listed
NOT_MANAGED = (*SERVER_LIMIT_PREFIXES, LOCK_PREFIX)  # server-made or pipeform's lock


async def _limits(api: ServerAPI, names: frozenset[str], one: str, listing: str, key: str) -> list[dict[str, Any]]:
    if not names:
        return []
    if len(names) <= BY_NAME_MAX:
        found = await asyncio.gather(*(api.request("GET", one.format(n), ok=(404,)) for n in sorted(names)))
        return [f for f in found if f]
    return [lim for lim in await api.all(listing) if lim[key] in names]


class GlobalLimitKind(Kind):
    name = "global_limit"
    order = 2
    document = "ConcurrencyLimit"
    import_file = "concurrency-limits.yaml"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        for name, doc in project.concurrency_limits.items():
            s = doc.spec
            if not s.tag:
                body = {"limit": s.limit, "active": s.active, "slot_decay_per_second": s.slot_decay_per_second or 0.0}
                yield self.resource(name, body, origin=origin(project, "ConcurrencyLimit", name))

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        found = await _limits(ctx.api, names, "/v2/concurrency_limits/{}", "/v2/concurrency_limits/filter", "name")
        return [
            self.resource(
                lim["name"],
                {
                    "limit": lim["limit"],
                    "active": lim["active"],
                    "slot_decay_per_second": lim.get("slot_decay_per_second") or 0.0,
                },
                server_id=lim["id"],
            )
            for lim in found
            if not lim["name"].startswith(NOT_MANAGED)
        ]

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("POST", "/v2/concurrency_limits/", {"name": c.name, **(c.after or {})})

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("PATCH", f"/v2/concurrency_limits/{seg(c.name)}", c.after)

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/v2/concurrency_limits/{seg(c.name)}", ok=(404,))

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        return {"limits": await api.all("/v2/concurrency_limits/filter")}

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        for lim in server["limits"]:
            if lim["name"].startswith(NOT_MANAGED):
                continue
            spec = compact({"limit": lim["limit"], "slot_decay_per_second": lim.get("slot_decay_per_second")})
            yield ImportedDoc("ConcurrencyLimit", lim["name"], spec | ({} if lim["active"] else {"active": False}))


class TagLimitKind(Kind):
    name = "tag_limit"
    order = 2
    document = "ConcurrencyLimit"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        for name, doc in project.concurrency_limits.items():
            s = doc.spec
            if s.tag:
                yield self.resource(
                    s.tag, {"concurrency_limit": s.limit}, origin=origin(project, "ConcurrencyLimit", name)
                )

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        found = await _limits(ctx.api, names, "/concurrency_limits/tag/{}", "/concurrency_limits/filter", "tag")
        return [
            self.resource(lim["tag"], {"concurrency_limit": lim["concurrency_limit"]}, server_id=lim["id"])
            for lim in found
        ]

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("POST", "/concurrency_limits/", {"tag": c.name, **(c.after or {})})

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await self.create(ctx, c)  # the server upserts by tag

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/concurrency_limits/tag/{seg(c.name)}", ok=(404,))

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        return {"tag_limits": await api.all("/concurrency_limits/filter")}

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        for lim in server["tag_limits"]:
            yield ImportedDoc(
                "ConcurrencyLimit", f"tag-{lim['tag']}", {"limit": lim["concurrency_limit"], "tag": lim["tag"]}
            )


GLOBAL_LIMIT = GlobalLimitKind()
TAG_LIMIT = TagLimitKind()
