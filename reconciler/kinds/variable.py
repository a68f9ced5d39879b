"""Variable documents -> Prefect variables (`variable.<name>`), tagged with the project's
owner tag; `sensitive: true` marks the value secret in every output. pipeform's own
bookkeeping variables (inventory, lock) are never resources."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pipeform.spec.models.common import VARIABLE_NAME_PATTERN

from ..api import ServerAPI, seg
from ..changes import ResourceChange
from ..inventory import OWNER_TAG_PREFIX, is_inventory_variable, owner_tag
from ..lock import LOCK_PREFIX
from ..resources import Resource
from .base import ApplyContext, ImportedDoc, Kind, NotImported, ObserveContext, filtered
from .block_values import HASH_PREFIX
from .common import compact, origin, secrets_filled

if TYPE_CHECKING:
    from ..inputs import DesiredInput


def _bookkeeping(name: str) -> bool:
    return name.startswith((LOCK_PREFIX, HASH_PREFIX)) or is_inventory_variable(name)


class VariableKind(Kind):
    name = "variable"
    order = 2
    document = "Variable"
    import_file = "variables.yaml"
    name_pattern = VARIABLE_NAME_PATTERN
    name_rule = "lower-case letters, digits, '-' and '_'"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        tag = owner_tag(project.name)
        for name, doc in project.variables.items():
            s = doc.spec
            if s.sensitive:
                continue  # a Secret block (kinds/block.py): Prefect variables are not encrypted
            yield self.resource(
                name,
                {"value": s.value, "tags": sorted({*s.tags, tag})},
                origin=origin(project, "Variable", name),
                sensitive=("value",) if s.sensitive else (),
            )

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        if not names:
            return []
        return [
            self.resource(
                var["name"], {"value": var["value"], "tags": sorted(var.get("tags") or [])}, server_id=var["id"]
            )
            for var in await filtered(ctx.api, "/variables/filter", "variables", names)
            if not _bookkeeping(var["name"])
        ]

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        b = secrets_filled(c.after)
        await ctx.api.request("POST", "/variables/", {"name": c.name, "value": b["value"], "tags": b["tags"]})

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        b = secrets_filled(c.after)
        await ctx.api.request("PATCH", f"/variables/name/{seg(c.name)}", {"value": b["value"], "tags": b["tags"]})

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/variables/name/{seg(c.name)}", ok=(404,))

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        return {"variables": await api.all("/variables/filter")}

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        for var in server["variables"]:
            if _bookkeeping(var["name"]):
                continue
            tags = [t for t in var.get("tags") or [] if not t.startswith(OWNER_TAG_PREFIX)]
            yield ImportedDoc("Variable", var["name"], compact({"value": var["value"], "tags": tags}))


VARIABLE = VariableKind()
