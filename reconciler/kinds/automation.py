"""Automation documents -> automations (`automation.<name>`): POST to create, PUT to update
in place (same id, so its history stays), their actions' FLOW/NAME resolved to deployment
ids at apply time (a deployment created earlier in the same apply included).

Names are not unique on the server: the automation carrying the `pipeform:<project>` tag
is the project's (same-name automations made by hand are ignored); with none tagged a
single same-name one stands for the name (so plan refuses it without --adopt), unless
the name is owned (then pipeform's was deleted: it is created again and the hand-made one
left alone); two tagged (or two untagged, none tagged) is an error, never a guess."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pipeform.spec.flow_names import deployment_flow_name
from pipeform.spec.models.automation import DEPLOYMENT_ACTIONS

from ..api import ServerAPI
from ..changes import ResourceChange
from ..diagnostics import AMBIGUOUS
from ..inventory import OWNER_TAG_PREFIX, owner_tag
from ..resources import Resource
from .automation_refs import ACTION_REF, action_refs, to_ids, to_names
from .automation_values import (
    ACTION_LISTS,
    action_deployments,
    automation_action,
    automation_body,
    imported_spec,
    server_action,
    server_ref_names,
)
from .base import ApplyContext, ImportedDoc, Kind, NotImported, ObserveContext, chunks, filtered
from .common import origin
from .deployment import deployment_address
from .trigger_import import deployment_triggers

if TYPE_CHECKING:
    from pipeform.spec.project import Project

    from ..inputs import DesiredInput


def _deployment_ref(project: Project, ref: str | None) -> str | None:
    """An action's deployment reference as FLOW/NAME (a bare name is a Deployment document)."""
    if ref is None or "/" in ref:
        return ref
    return f"{deployment_flow_name(project.deployments[ref].spec)}/{ref}"


def _target_ref(project: Project, action: Any) -> str | None:
    """The block (as TYPE/NAME), work pool, queue or automation an action names."""
    field = ACTION_REF.get(action.type)
    ref: str | None = getattr(action, field, None) if field else None
    if field != "block" or ref is None:
        return ref
    if "/" in ref or "." in ref:
        return ref.replace(".", "/", 1)
    return f"{project.of_kind('Block')[ref].spec.type}/{ref}"


async def _deployment_names(api: ServerAPI, ids: set[str]) -> dict[str, str]:
    """deployment id -> FLOW/NAME (deleted deployments are left out)."""
    if not ids:
        return {}
    parts = await asyncio.gather(
        *(api.all("/deployments/filter", {"deployments": {"id": {"any_": c}}}) for c in chunks(ids))
    )
    deployments = [d for part in parts for d in part]
    flow_ids = {d["flow_id"] for d in deployments}
    flows = await asyncio.gather(*(api.all("/flows/filter", {"flows": {"id": {"any_": c}}}) for c in chunks(flow_ids)))
    flow_names = {f["id"]: f["name"] for part in flows for f in part}
    return {d["id"]: f"{flow_names.get(d['flow_id'], '?')}/{d['name']}" for d in deployments}


class AutomationKind(Kind):
    name = "automation"
    order = 5  # after the deployments its actions reference (deleted before them)
    document = "Automation"
    import_file = "automations.yaml"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        tag = owner_tag(project.name)
        for name, doc in project.automations.items():
            s = doc.spec

            def actions(items: list[Any]) -> list[dict[str, Any]]:
                refs = (_deployment_ref(project, getattr(a, "deployment", None)) for a in items)
                return [
                    automation_action(a.model_dump(), ref, _target_ref(project, a))
                    for a, ref in zip(items, refs, strict=True)
                ]

            body = automation_body(
                description=s.description or doc.metadata.description,
                enabled=s.enabled,
                tags=[*s.tags, tag],
                trigger={"type": "event", **s.trigger.model_dump()},
                actions=actions(s.actions),
                actions_on_trigger=actions(s.actions_on_trigger),
                actions_on_resolve=actions(s.actions_on_resolve),
            )
            yield self.resource(name, body, origin=origin(project, "Automation", name))

    def _chosen(self, ctx: ObserveContext, names: frozenset[str], found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One automation per wanted name (see the module's docstring), else an error."""
        by_name: dict[str, list[dict[str, Any]]] = {}
        for auto in found:
            by_name.setdefault(auto["name"], []).append(auto)
        chosen: list[dict[str, Any]] = []
        for name, same in sorted(by_name.items()):
            if name not in names:
                continue
            tagged = [a for a in same if ctx.owner in (a.get("tags") or [])]
            pick = tagged or same
            if len(pick) > 1:
                ids = ", ".join(sorted(a["id"] for a in pick))
                which = f"carry the tag {ctx.owner!r}" if tagged else "exist and none is tagged as pipeform's"
                message = (
                    f"{len(pick)} automations named {name!r} {which} ({ids});"
                    " delete or rename the extra ones on the server"
                )
                ctx.error(AMBIGUOUS, self.address(name), message)
                continue
            chosen.append(pick[0])
        return chosen

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        if not names:
            return []
        chosen = self._chosen(ctx, names, await filtered(ctx.api, "/automations/filter", "automations", names))
        ids = {
            a["deployment_id"]
            for auto in chosen
            for key in ACTION_LISTS
            for a in auto.get(key) or []
            if a.get("type") in DEPLOYMENT_ACTIONS and a.get("deployment_id")
        }
        targets = {r for auto in chosen for key in ACTION_LISTS for r in action_refs(auto.get(key) or [], "id")}
        names_by_id, target_names = await asyncio.gather(_deployment_names(ctx.api, ids), to_names(ctx.api, targets))

        def actions(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
            result = []
            for a in items or []:
                dep_id = a.get("deployment_id") if a.get("source", "selected") == "selected" else None
                dep = (names_by_id.get(dep_id) or f"<unknown deployment {dep_id}>") if dep_id else None
                target = next(iter(action_refs([a], "id")), None)
                result.append(automation_action(a, dep, target_names[target] if target else None))
            return result

        return [
            self.resource(
                auto["name"],
                automation_body(
                    description=auto.get("description"),
                    enabled=auto.get("enabled", True),
                    tags=auto.get("tags") or [],
                    trigger=auto.get("trigger") or {},
                    actions=actions(auto.get("actions")),
                    actions_on_trigger=actions(auto.get("actions_on_trigger")),
                    actions_on_resolve=actions(auto.get("actions_on_resolve")),
                ),
                server_id=auto["id"],
            )
            for auto in chosen
        ]

    def keep_observed(self, resource: Resource, inventory: frozenset[str], owner: str) -> bool:
        # An owned name whose only automation lacks the owner tag: pipeform's was deleted and
        # someone made another by hand. Not ours to update or prune: ours is missing.
        return not (resource.address in inventory and owner not in resource.body["tags"])

    def blocked(self, change: ResourceChange, failed: frozenset[str]) -> str | None:
        b = change.after or {}
        refs = {deployment_address(d) for d in action_deployments(b)}
        blocks = {f"block.{n}" for k in ACTION_LISTS for f, n in action_refs(b.get(k) or [], "name") if f == "block"}
        if refs & failed:
            return "a deployment it references failed"
        return "a block it references failed" if blocks & failed else None

    async def _body(self, ctx: ApplyContext, c: ResourceChange) -> dict[str, Any]:
        b = c.after or {}
        refs = sorted(action_deployments(b))
        found = await asyncio.gather(*(ctx.deployment_id(deployment_address(d)) for d in refs))
        ids = dict(zip(refs, found, strict=True))
        owner = next((t for t in b["tags"] if t.startswith(OWNER_TAG_PREFIX)), "")
        targets = await to_ids(ctx.api, {r for k in ACTION_LISTS for r in action_refs(b[k], "name")}, owner)
        return {
            "name": c.name,
            "description": b["description"],
            "enabled": b["enabled"],
            "tags": b["tags"],
            "trigger": b["trigger"],
            **{k: [server_action(a, ids, targets) for a in b[k]] for k in ACTION_LISTS},
        }

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("POST", "/automations/", await self._body(ctx, c))

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        # PUT replaces the automation's fields in place: same id, so its history stays
        await ctx.api.request("PUT", f"/automations/{c.server_id}", await self._body(ctx, c))

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/automations/{c.server_id}", ok=(404,))

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        return {"automations": await api.all("/automations/filter")}

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        names = {d["id"]: f"{server['flows'].get(d['flow_id'], '?')}/{d['name']}" for d in server["deployments"]}
        triggers = {a["id"]: dep for dep, autos in deployment_triggers(server).items() for a in autos}
        refs = server_ref_names(server)
        for auto in server.get("automations", []):
            if auto["id"] in triggers:  # written under its Deployment's `triggers`
                dep = names[triggers[auto["id"]]]
                why = f"Automation {auto['name']!r}: a trigger of Deployment {dep!r}, written under its `triggers`"
                yield NotImported("Automation", auto["name"], why, instead="Deployment")
                continue
            spec, why = imported_spec(auto, names, refs)
            if spec is None:
                yield NotImported("Automation", auto["name"], f"Automation {auto['name']!r}: {why}")
            else:
                yield ImportedDoc("Automation", auto["name"], spec)


AUTOMATION = AutomationKind()
