"""A WorkPool's `queues` -> work queues (`work_queue.<pool>/<queue>`). Every pool has a
`default` queue that pipeform never manages. Imported as part of their pool's document."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..api import ApiError, ServerAPI, seg
from ..changes import ResourceChange
from ..resources import Resource
from .base import ApplyContext, Body, Kind, ObserveContext, chunks
from .common import origin
from .work_pool import server_pools

if TYPE_CHECKING:
    from ..inputs import DesiredInput


async def _queues(api: ServerAPI, pool: str, names: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in chunks(names):
        try:
            out += await api.all(f"/work_pools/{pool}/queues/filter", {"work_queues": {"name": {"any_": c}}})
        except ApiError as exc:
            if exc.status != 404:  # the pool does not exist: neither do its queues
                raise
    return out


class WorkQueueKind(Kind):
    name = "work_queue"
    order = 1

    @staticmethod
    def pool(name: str) -> str:
        return name.partition("/")[0]

    @staticmethod
    def queue(name: str) -> str:
        return name.partition("/")[2]

    def parent_of(self, name: str) -> str | None:
        return f"work_pool.{self.pool(name)}"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        for pool, doc in project.work_pools.items():
            for q in doc.spec.queues:
                body = {
                    "description": q.description or "",
                    "concurrency_limit": q.concurrency_limit,
                    "priority": q.priority,
                    "is_paused": q.paused,
                }
                yield self.resource(f"{pool}/{q.name}", body, origin=origin(project, "WorkPool", pool))

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        if not names:
            return []
        wanted: dict[str, set[str]] = {}
        for n in names:
            wanted.setdefault(self.pool(n), set()).add(self.queue(n))
        existing = {p["name"] for p in await server_pools(ctx)}
        pools = sorted(p for p in wanted if p in existing)
        lists = await asyncio.gather(*(_queues(ctx.api, p, wanted[p]) for p in pools))
        return [
            self.resource(
                f"{pool}/{q['name']}",
                {
                    "description": q.get("description") or "",
                    "concurrency_limit": q.get("concurrency_limit"),
                    "priority": q.get("priority"),
                    "is_paused": bool(q.get("is_paused")),
                },
                server_id=q["id"],
            )
            for pool, queues in zip(pools, lists, strict=True)
            for q in queues
            if q["name"] != "default" and q["name"] in wanted[pool]  # every pool has `default`; never managed
        ]

    def comparable(self, want: Body, have: Body) -> tuple[Body, Body]:
        """No declared priority: the server's is kept, never a diff. Prefect gives every queue
        one (a new queue without it gets the pool's highest + 1, as `prefect work-queue create`
        does), so comparing None with it would show a change on every plan."""
        if want.get("priority") is None:
            want, have = dict(want), dict(have)
            want.pop("priority", None)
            have.pop("priority", None)
        return super().comparable(want, have)

    def _fields(self, c: ResourceChange) -> dict[str, Any]:
        b = c.after or {}
        fields = {k: b[k] for k in ("description", "is_paused", "concurrency_limit", "priority")}
        if fields["priority"] is None:
            del fields["priority"]  # the server's priority stays (see comparable)
        return fields

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        body = {"name": self.queue(c.name), **{k: v for k, v in self._fields(c).items() if v is not None}}
        await ctx.api.request("POST", f"/work_pools/{seg(self.pool(c.name))}/queues", body)

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request(
            "PATCH", f"/work_pools/{seg(self.pool(c.name))}/queues/{seg(self.queue(c.name))}", self._fields(c)
        )

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request(
            "DELETE", f"/work_pools/{seg(self.pool(c.name))}/queues/{seg(self.queue(c.name))}", ok=(404,)
        )


WORK_QUEUE = WorkQueueKind()
