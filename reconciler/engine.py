"""The reconciler's entry points, used by the CLI, by other stages and by tests: plan,
apply (from specs or from a saved plan) and drift. Orchestration only; every decision is
made in plan.py, every write in apply.py.

    async with ServerAPI.from_env() as api:
        plan, _ = await plan_project(api, project)
        plan, outcomes = await apply_project(api, project, confirm=lambda p: True)
"""

from __future__ import annotations

from collections.abc import Callable

from pipeform.spec.project import Project

from .api import ServerAPI
from .apply import Outcome, Progress, apply_plan
from .desired import desired_state
from .lock import acquire
from .observe import observe
from .plan import Action, Plan, ResourceChange, make_plan
from .resources import fingerprint


class StaleError(RuntimeError):
    """The server changed since a saved plan was made."""


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
    actual = await observe(api, project.name, project.env)
    plan = make_plan(
        desired_state(project),
        actual.resources,
        actual.inventory,
        project=project.name,
        env=project.env,
        server=api.url,
        prune=prune,
        allow_empty=allow_empty,
        adopt=adopt,
        targets=targets,
    )
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
    take the lock, plan again under it (another apply may have run meanwhile), confirm,
    apply. Returns the plan and the outcomes (None when refused or not confirmed; () when
    there was nothing to do)."""
    opts = {"prune": prune, "allow_empty": allow_empty, "adopt": adopt, "targets": targets}
    plan, _ = await plan_project(api, project, **opts)
    if plan.errors or not plan.pending:
        return plan, None if plan.errors else ()
    lease = await acquire(api, project.name, lock_timeout)
    try:
        plan, inventory = await plan_project(api, project, **opts)
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
        actual = await observe(api, plan.project, plan.env)
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
    actual = await observe(api, project.name, project.env)
    plan = make_plan(
        desired_state(project),
        actual.resources,
        actual.inventory,
        project=project.name,
        env=project.env,
        server=api.url,
        prune=True,
        allow_empty=True,
        adopt=True,
        targets=targets,
    )

    def owned(c: ResourceChange) -> bool:
        if c.kind == "schedule":  # schedules belong to their deployment
            return f"deployment.{c.name.rsplit('/', 1)[0]}" in actual.inventory or c.address in actual.inventory
        return c.address in actual.inventory

    return tuple(c for c in plan.pending if owned(c) and c.action is not Action.NOOP)
