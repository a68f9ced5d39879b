"""Drift of a few deployments named by the server's events, without a full observe.

A deployment event (`prefect.deployment.updated`, ...) names the deployment and its flow,
so the controller plans just those deployments (and their schedules): observed by name,
compared, and with --self-heal applied under the apply lock (planned again under it). A
change made in the UI is then put back in about a second whatever the project's size; the
full comparison still runs on the signal or the resync. Built on the reconciler's public
pieces (gather_inputs, desired_state, observe, make_plan, apply_plan, acquire).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.apply import Outcome, apply_plan
from pipeform.reconciler.desired import desired_state
from pipeform.reconciler.inputs import gather_inputs
from pipeform.reconciler.lock import acquire
from pipeform.reconciler.observe import observe
from pipeform.reconciler.plan import Plan, make_plan
from pipeform.reconciler.resources import Resource
from pipeform.spec.project import Project


def deployment_of(event: dict[str, Any]) -> str | None:
    """`FLOW/NAME` of the deployment a deployment event is about."""
    name = (event.get("resource") or {}).get("prefect.resource.name")
    flows = [r for r in event.get("related") or [] if r.get("prefect.resource.role") == "flow"]
    if not name or not flows or not flows[0].get("prefect.resource.name"):
        return None
    return f"{flows[0]['prefect.resource.name']}/{name}"


def desired(project: Project) -> list[Resource]:
    """The whole project's desired state (the slow part at scale: keep it per commit)."""
    return desired_state(gather_inputs(project))


async def _plan(
    api: ServerAPI, project: Project, names: set[str], everything: list[Resource]
) -> tuple[Plan, frozenset[str]]:
    addresses = {r.address for r in everything if r.kind == "deployment" and r.name in names}
    desired = [r for r in everything if r.address in addresses or r.parent in addresses]
    if not desired:  # not one of ours: nothing to read
        return Plan(project.name, project.env, api.url, (), ""), frozenset()
    actual = await observe(api, project.name, project.env, [r.address for r in desired], owned=False)
    plan = make_plan(desired, actual.resources, actual.inventory, project=project.name, env=project.env, server=api.url)
    # drift is about owned objects only: a deployment nobody owns is not ours to put back
    owned = [c for c in plan.changes if c.address in actual.inventory or (c.parent or "") in actual.inventory]
    return replace(plan, changes=tuple(owned)), actual.inventory


async def check(
    api: ServerAPI,
    project: Project,
    names: set[str],
    *,
    heal: bool,
    lock_timeout: float,
    everything: list[Resource] | None = None,
) -> tuple[Plan, tuple[Outcome, ...] | None]:
    """Plan the named deployments; with `heal`, apply what differs. Returns the plan and the
    outcomes (None: not healed, () nothing to do). `everything`: the project's desired
    state when the caller keeps it (`desired`), else computed here."""
    everything = desired(project) if everything is None else everything
    plan, _ = await _plan(api, project, names, everything)
    if plan.errors or not plan.pending or not heal:
        return plan, None if plan.errors or not heal else ()
    lease = await acquire(api, project.name, lock_timeout)
    try:
        plan, inventory = await _plan(api, project, names, everything)  # under the lock: what is true now
        if plan.errors or not plan.pending:
            return plan, None if plan.errors else ()
        return plan, await apply_plan(api, plan, inventory)
    finally:
        await lease.release()
