"""The objects an automation's actions name besides deployments (a block, a work pool, a
work queue, another automation): spelled by name in the comparable form, by id on the
server. `to_names` maps a server automation's ids back (observe); `to_ids` resolves names
at apply time (a block created earlier in the same apply included)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..api import ServerAPI, seg

# spec field -> the server action's id field
REF_FIELDS = {
    "block": "block_document_id",
    "work_pool": "work_pool_id",
    "work_queue": "work_queue_id",
    "automation": "automation_id",
}
# action type -> the spec field naming its target
ACTION_REF = {
    "send-notification": "block",
    "call-webhook": "block",
    "pause-work-pool": "work_pool",
    "resume-work-pool": "work_pool",
    "pause-work-queue": "work_queue",
    "resume-work-queue": "work_queue",
    "pause-automation": "automation",
    "resume-automation": "automation",
}
Ref = tuple[str, str]  # (spec field, name or id)


async def _name(api: ServerAPI, field: str, id_: str) -> str | None:
    if field == "block":
        doc = await api.request("GET", f"/block_documents/{id_}", ok=(404,))
        return f"{(doc.get('block_type') or {}).get('slug')}/{doc['name']}" if doc else None
    if field == "work_pool":
        found = await api.request("POST", "/work_pools/filter", {"work_pools": {"id": {"any_": [id_]}}})
        return found[0]["name"] if found else None
    if field == "work_queue":
        q = await api.request("GET", f"/work_queues/{id_}", ok=(404,))
        return f"{q.get('work_pool_name')}/{q['name']}" if q else None
    auto = await api.request("GET", f"/automations/{id_}", ok=(404,))
    return auto["name"] if auto else None


async def to_names(api: ServerAPI, refs: set[Ref]) -> dict[Ref, str]:
    """(field, id) -> name; an object that no longer exists reads `<unknown FIELD ID>`."""
    items = sorted(refs)
    names = await asyncio.gather(*(_name(api, f, i) for f, i in items))
    return {ref: name or f"<unknown {ref[0]} {ref[1]}>" for ref, name in zip(items, names, strict=True)}


async def _id(api: ServerAPI, field: str, name: str, owner: str) -> str:
    found: Any
    if field == "block":
        slug, _, block = name.partition("/")
        found = await api.request("GET", f"/block_types/slug/{seg(slug)}/block_documents/name/{seg(block)}", ok=(404,))
    elif field == "work_pool":
        found = await api.request("GET", f"/work_pools/{seg(name)}", ok=(404,))
    elif field == "work_queue":
        pool, _, queue = name.partition("/")
        found = await api.request("GET", f"/work_pools/{seg(pool)}/queues/{seg(queue)}", ok=(404,))
    else:
        # Automations are created concurrently in one apply phase: one this action names may
        # be created alongside it, so look again for a few seconds before giving up.
        for attempt in range(6):
            same = await api.all("/automations/filter", {"automations": {"name": {"any_": [name]}}})
            tagged = [a for a in same if owner in (a.get("tags") or [])]
            pick = tagged or same
            if len(pick) > 1:
                raise ValueError(f"{len(pick)} automations are named {name!r}: an action cannot tell which")
            found = pick[0] if pick else None
            if found or attempt == 5:
                break
            await asyncio.sleep(1.0)
    if not found:
        raise ValueError(f"{field.replace('_', ' ')} {name!r} does not exist on the server")
    return str(found["id"])


async def to_ids(api: ServerAPI, refs: set[Ref], owner: str) -> dict[Ref, str]:
    items = sorted(refs)
    ids = await asyncio.gather(*(_id(api, f, n, owner) for f, n in items))
    return dict(zip(items, ids, strict=True))


def action_refs(actions: list[dict[str, Any]], by: str) -> set[Ref]:
    """The (field, name) [by="name", normalized actions] or (field, id) [by="id", server
    actions] every action names."""
    out: set[Ref] = set()
    for a in actions:
        field = ACTION_REF.get(a.get("type", ""))
        if field is None:
            continue
        value = a.get(field) if by == "name" else a.get(REF_FIELDS[field])
        if value and (by == "name" or a.get("source", "selected") == "selected"):
            out.add((field, str(value)))
    return out
