"""A Deployment's `schedules` -> deployment schedules (`schedule.<flow>/<deployment>/<slug>`).
A schedule belongs to its deployment: read with it (all of a deployment's schedules, so one
left out of the spec is deleted), owned and pruned with it, updated in place by slug (same
id, so run idempotency keys and history stay). Imported inside its Deployment document."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipeform.spec.flow_names import deployment_flow_name

from ..changes import ResourceChange
from ..normalize import instant, seconds
from ..resources import Resource
from .base import ApplyContext, Body, DeploymentChildKind
from .common import origin

if TYPE_CHECKING:
    from ..inputs import DesiredInput


def schedule_body(s: dict[str, Any], slug: str) -> dict[str, Any]:
    """The comparable form, from a spec Schedule dump or from the server's schedule (same keys)."""
    if s.get("cron") is not None:
        sched: dict[str, Any] = {
            "cron": s["cron"],
            "timezone": s.get("timezone") or "UTC",
            "day_or": True if s.get("day_or") is None else s["day_or"],
        }
    elif s.get("interval") is not None:
        sched = {"interval": seconds(s["interval"]), "timezone": s.get("timezone") or "UTC"}
        if s.get("anchor_date"):
            sched["anchor_date"] = instant(s["anchor_date"])
    else:
        sched = {"rrule": s.get("rrule"), "timezone": s.get("timezone") or "UTC"}
    return {
        "slug": slug,
        "schedule": sched,
        "active": s.get("active", True) is not False,
        "parameters": s.get("parameters") or {},
        "max_scheduled_runs": s.get("max_scheduled_runs"),
    }


def actual_schedule(raw: dict[str, Any], slug: str) -> dict[str, Any]:
    """A server schedule (JSON) -> schedule_body form."""
    sched = raw.get("schedule") or {}
    flat = {k: sched.get(k) for k in ("cron", "interval", "rrule", "timezone", "day_or", "anchor_date")}
    extra = {k: raw.get(k) for k in ("active", "parameters", "max_scheduled_runs")}
    return schedule_body({**flat, **extra}, slug)


class ScheduleKind(DeploymentChildKind):
    name = "schedule"
    order = 4
    observed_with = "deployment"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        for name, doc in project.deployments.items():
            deployment = f"{deployment_flow_name(doc.spec)}/{name}"
            for i, sch in enumerate(doc.spec.schedules):
                slug = sch.slug or f"schedule-{i}"
                body = schedule_body(sch.model_dump(), slug)
                yield self.resource(f"{deployment}/{slug}", body, origin=origin(project, "Deployment", name))

    def observed(self, deployment: str, raw: dict[str, Any], index: int | None = None) -> Resource:
        """One of a deployment's schedules as the server has it (read by the deployment kind).
        A schedule without a slug (as `prefect deploy` leaves one) stands at its position under
        the name pipeform gives an unslugged spec schedule there, so adoption updates it in place."""
        slug = raw.get("slug") or (f"schedule-{index}" if index is not None else f"id-{raw['id']}")
        return self.resource(f"{deployment}/{slug}", actual_schedule(raw, slug), server_id=raw["id"])

    def comparable(self, want: Body, have: Body) -> tuple[Body, Body]:
        """Server-chosen values are ignored unless the spec sets them: an interval's anchor,
        the DTSTART line the server prefixes to an rrule."""
        want, have = super().comparable(want, have)
        sched = dict(have["schedule"])
        wanted = want.get("schedule", {})
        if "anchor_date" not in wanted:
            sched.pop("anchor_date", None)
        if isinstance(sched.get("rrule"), str) and "DTSTART" not in (wanted.get("rrule") or ""):
            sched["rrule"] = "\n".join(ln for ln in sched["rrule"].splitlines() if not ln.startswith("DTSTART"))
        have["schedule"] = sched
        return want, have

    def blocked(self, change: ResourceChange, failed: frozenset[str]) -> str | None:
        return "its deployment failed" if change.parent in failed else None

    def _deployment_id(self, ctx: ApplyContext, c: ResourceChange) -> str | None:
        return ctx.deployment_ids.get(c.parent or "")

    def _body(self, c: ResourceChange) -> dict[str, Any]:
        b = c.after or {}
        return {
            "schedule": b["schedule"],
            "active": b["active"],
            "parameters": b["parameters"],
            "max_scheduled_runs": b.get("max_scheduled_runs"),
            "slug": self.split(c.name)[1],
        }

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        dep_id = self._deployment_id(ctx, c)
        if not dep_id:
            raise ValueError(f"deployment {self.split(c.name)[0]} was not created, so its schedule cannot be")
        await ctx.api.request("POST", f"/deployments/{dep_id}/schedules", [self._body(c)])

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        dep_id = self._deployment_id(ctx, c)
        if not dep_id:
            raise ValueError(f"deployment {self.split(c.name)[0]} was not created, so its schedule cannot be")
        changed = c.changed_fields
        patch = {k: v for k, v in self._body(c).items() if k in changed or k == "slug"}
        await ctx.api.request("PATCH", f"/deployments/{dep_id}/schedules/{c.server_id}", patch)

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        dep_id = self._deployment_id(ctx, c)
        if dep_id:  # its deployment is gone (deleted first): so is the schedule
            await ctx.api.request("DELETE", f"/deployments/{dep_id}/schedules/{c.server_id}", ok=(404,))


SCHEDULE = ScheduleKind()
