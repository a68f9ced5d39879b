"""A Deployment's `triggers` -> automations owned by the deployment
(`trigger.<flow>/<deployment>/<automation name>`), as `prefect deploy` makes them (Prefect 3.8,
prefect/cli/deploy/_triggers.py): one automation per trigger, named as the trigger says or
`<deployment>__automation_<n>`, its one action a run-deployment of that deployment (the
trigger's parameters, job variables and schedule_after), created with `owner_resource:
prefect.deployment.<id>` (so `prefect deploy` of that deployment later deletes it, as it
deletes every automation its deployment owns).

Where prefect deploy deletes and recreates every owned automation on each deploy (new ids,
trigger state lost), pipeform updates them in place (PUT: same id; the server keeps the
ownership) and writes nothing when nothing changed. A trigger belongs to its deployment:
owned and pruned with it; one removed from the spec is deleted. Only automations of the
trigger's name whose action runs that deployment are read; of those, the one carrying the
project's tag is pipeform's; an untagged one (made by prefect deploy) is taken over with its
deployment. Automations pipeform did not make or take over are never changed or deleted
(Prefect's redeploy would delete the deployment's other owned automations; pipeform cannot
read ownership back, so it leaves them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipeform.spec.flow_names import deployment_flow_name
from pipeform.spec.models.triggers import trigger_dump, trigger_name

from ..changes import ResourceChange
from ..diagnostics import AMBIGUOUS
from ..inventory import owner_tag
from ..resources import Resource
from .automation import _deployment_names
from .automation_values import automation_action, automation_body, server_action
from .base import ApplyContext, DeploymentChildKind, ObserveContext, filtered
from .common import origin
from .trigger_import import run_deployment

if TYPE_CHECKING:
    from ..inputs import DesiredInput


class DeploymentTriggerKind(DeploymentChildKind):
    name = "trigger"
    order = 5  # after the deployment it runs (deleted before it)

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        tag = owner_tag(project.name)
        for dep_name, doc in project.deployments.items():
            deployment = f"{deployment_flow_name(doc.spec)}/{dep_name}"
            for i, t in enumerate(doc.spec.triggers):
                action = {
                    "type": "run-deployment",
                    "parameters": t.parameters,
                    "job_variables": t.job_variables,
                    "schedule_after": t.schedule_after,
                }
                body = automation_body(
                    description=t.description,
                    enabled=t.enabled,
                    tags=[tag],
                    trigger=trigger_dump(t),
                    actions=[automation_action(action, deployment)],
                    actions_on_trigger=[],
                    actions_on_resolve=[],
                )
                name = f"{deployment}/{trigger_name(dep_name, i, t)}"
                yield self.resource(name, body, origin=origin(project, "Deployment", dep_name))

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        if not names:
            return []
        found = await filtered(ctx.api, "/automations/filter", "automations", {self.split(n)[1] for n in names})
        runs = {a["id"]: dep for a in found if (dep := run_deployment(a))}
        deployments = await _deployment_names(ctx.api, set(runs.values()))
        by_name: dict[str, list[dict[str, Any]]] = {}
        for auto in found:
            dep = deployments.get(runs.get(auto["id"], ""))
            if dep and f"{dep}/{auto['name']}" in names:
                by_name.setdefault(f"{dep}/{auto['name']}", []).append(auto)
        out = []
        for name, same in sorted(by_name.items()):
            tagged = [a for a in same if ctx.owner in (a.get("tags") or [])]
            pick = tagged or same
            if len(pick) > 1:
                ids = ", ".join(sorted(a["id"] for a in pick))
                ctx.error(AMBIGUOUS, self.address(name), f"{len(pick)} automations of this trigger exist ({ids})")
                continue
            auto = pick[0]
            body = automation_body(
                description=auto.get("description"),
                enabled=auto.get("enabled", True),
                tags=auto.get("tags") or [],
                trigger=auto.get("trigger") or {},
                actions=[automation_action(auto["actions"][0], self.split(name)[0])],
                actions_on_trigger=[],
                actions_on_resolve=[],
            )
            out.append(self.resource(name, body, server_id=auto["id"]))
        return out

    def keep_observed(self, resource: Resource, inventory: frozenset[str], owner: str) -> bool:
        # pipeform's was deleted and an untagged one made since: not ours; ours is missing
        return not (resource.address in inventory and owner not in resource.body["tags"])

    def blocked(self, change: ResourceChange, failed: frozenset[str]) -> str | None:
        return "its deployment failed" if change.parent in failed else None

    async def _body(self, ctx: ApplyContext, c: ResourceChange) -> tuple[dict[str, Any], str]:
        b = c.after or {}
        deployment = self.split(c.name)[0]
        dep_id = await ctx.deployment_id(f"deployment.{deployment}")
        body = {
            "name": self.split(c.name)[1],
            "description": b["description"],
            "enabled": b["enabled"],
            "tags": b["tags"],
            "trigger": b["trigger"],
            "actions": [server_action(a, {deployment: dep_id}) for a in b["actions"]],
            "actions_on_trigger": [],
            "actions_on_resolve": [],
        }
        return body, dep_id

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        body, dep_id = await self._body(ctx, c)
        await ctx.api.request("POST", "/automations/", {**body, "owner_resource": f"prefect.deployment.{dep_id}"})

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        # PUT replaces the fields in place: same id; the server keeps the owner relation
        await ctx.api.request("PUT", f"/automations/{c.server_id}", (await self._body(ctx, c))[0])

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/automations/{c.server_id}", ok=(404,))


DEPLOYMENT_TRIGGER = DeploymentTriggerKind()
