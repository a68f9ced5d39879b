"""The reconciler's entry points, used by the CLI, by other stages and by tests: plan,
apply (from specs or from a saved plan) and drift. Orchestration only; every decision is
made in plan.py, every write in apply.py.

    async with ServerAPI.from_env() as api:
        plan, _ = await plan_project(api, project)
        plan, outcomes = await apply_project(api, project, confirm=lambda p: True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from pipeform.spec.project import Project

from .api import ServerAPI
from .apply import Outcome, Progress, apply_plan
from .desired import desired_state
from .inputs import gather_inputs
from .kinds import KINDS
from .lock import acquire
from .observe import ActualState, observe
from .plan import Action, Plan, ResourceChange, make_plan
from .resources import Resource, canonical, fingerprint


class StaleError(RuntimeError):
    """The server changed since a saved plan was made."""


async def _plan(
    api: ServerAPI, project: Project, desired: list[Resource], opts: dict[str, Any]
) -> tuple[Plan, ActualState]:
    origins = {r.address: r.origin for r in desired}
    actual = await observe(api, project.name, project.env, list(origins), origins=origins)
    plan = make_plan(
        desired, actual.resources, actual.inventory, project=project.name, env=project.env, server=api.url, **opts
    )
    if actual.errors:
        plan = replace(plan, diagnostics=(*actual.errors, *plan.diagnostics))
    return plan, actual


async def _desired(api: ServerAPI, project: Project) -> list[Resource]:
    """Desired state with its outside inputs: the server's copy of pools the deployments
    use but the project does not declare, then everything else (gather_inputs: the
    Environments' locks among it; a SpecError there stops the plan before anything is
    written)."""
    names = {
        d.spec.work_pool.name
        for d in project.deployments.values()
        if d.spec.work_pool and (d.spec.environment or d.spec.job_variables or d.spec.work_pool.job_variables)
    } - set(project.work_pools)
    pools: dict[str, Any] = {}
    for name in sorted(names):
        found = await api.request("GET", f"/work_pools/{quote(name, safe='')}", ok=(404,))
        if isinstance(found, dict) and found.get("type"):
            pools[name] = found
    return desired_state(gather_inputs(project, pools))


def _touched(plan: Plan) -> set[str]:
    """What a plan's pending changes depend on: their objects, and a schedule's deployment
    (its server id is where the schedule is written)."""
    out = {c.address for c in plan.pending}
    out |= {c.parent for c in plan.pending if c.parent and KINDS[c.kind].belongs_to_parent}
    return out


def _rows(state: ActualState, addresses: set[str]) -> list[tuple[str, str | None, str]]:
    return sorted((r.address, r.server_id, canonical(r.body)) for r in state.resources if r.address in addresses)


async def plan_project(
    api: ServerAPI,
    project: Project,
    *,
    prune: bool = False,
    allow_empty: bool = False,
    adopt: bool = False,
    targets: tuple[str, ...] = (),
) -> tuple[Plan, frozenset[str]]:
    """Observe the server and plan; returns the plan and the current inventory."""
    opts = {"prune": prune, "allow_empty": allow_empty, "adopt": adopt, "targets": targets}
    plan, actual = await _plan(api, project, await _desired(api, project), opts)
    return plan, actual.inventory


async def apply_project(
    api: ServerAPI,
    project: Project,
    *,
    confirm: Callable[[Plan], bool],
    prune: bool = False,
    allow_empty: bool = False,
    adopt: bool = False,
    targets: tuple[str, ...] = (),
    lock_timeout: float = 0.0,
    progress: Progress | None = None,
) -> tuple[Plan, tuple[Outcome, ...] | None]:
    """Plan; with nothing to do, stop there (no write at all, not even the lock). Otherwise
    take the lock and check under it that the plan still holds (another apply may have run
    meanwhile): the inventory and every object the plan would change are read again and
    must be exactly as planned, else the whole plan is made again under the lock. Then
    confirm and apply. Returns the plan and the outcomes (None when refused or not
    confirmed; () when there was nothing to do)."""
    opts = {"prune": prune, "allow_empty": allow_empty, "adopt": adopt, "targets": targets}
    desired = await _desired(api, project)
    plan, actual = await _plan(api, project, desired, opts)
    if plan.errors or not plan.pending:
        return plan, None if plan.errors else ()
    lease = await acquire(api, project.name, lock_timeout)
    try:
        touched = _touched(plan)
        now = await observe(api, project.name, project.env, touched, owned=False)
        inventory = now.inventory
        if now.errors or inventory != actual.inventory or _rows(now, touched) != _rows(actual, touched):
            plan, again = await _plan(api, project, desired, opts)  # changed meanwhile: plan again
            inventory = again.inventory
        if plan.errors:
            return plan, None
        if not plan.pending:
            return plan, ()
        if not confirm(plan):
            return plan, None
        return plan, await apply_plan(api, plan, inventory, progress)
    finally:
        await lease.release()


async def apply_saved_plan(
    api: ServerAPI,
    plan: Plan,
    *,
    confirm: Callable[[Plan], bool],
    lock_timeout: float = 0.0,
    progress: Progress | None = None,
) -> tuple[Outcome, ...] | None:
    """Apply a plan made earlier, under the lock, only if the objects it talks about are
    still exactly as observed then (StaleError otherwise). Secrets are read again from the
    environment (a saved plan never holds them)."""
    if plan.errors:
        return None
    if not plan.pending:
        return ()
    lease = await acquire(api, plan.project, lock_timeout)
    try:
        actual = await observe(api, plan.project, plan.env, plan.addresses, owned=False)
        if actual.errors:
            raise StaleError("; ".join(d.message for d in actual.errors))
        if fingerprint(actual.resources, plan.addresses) != plan.actual_fingerprint:
            raise StaleError("the server changed since this plan was made; run `pipeform plan` again")
        if not confirm(plan):
            return None
        return await apply_plan(api, plan, actual.inventory, progress)
    finally:
        await lease.release()


async def drift(api: ServerAPI, project: Project, targets: tuple[str, ...] = ()) -> tuple[ResourceChange, ...]:
    """Objects pipeform owns whose server state no longer matches the specs: changed by
    hand (update), deleted behind pipeform's back (create), or owned but gone from the specs
    (delete, i.e. what `apply --prune` would remove)."""
    opts = {"prune": True, "allow_empty": True, "adopt": True, "targets": targets}
    plan, actual = await _plan(api, project, await _desired(api, project), opts)

    def owned(c: ResourceChange) -> bool:
        if KINDS[c.kind].belongs_to_parent:  # a schedule is owned with its deployment
            return c.parent in actual.inventory or c.address in actual.inventory
        return c.address in actual.inventory

    return tuple(c for c in plan.pending if owned(c) and c.action is not Action.NOOP)
