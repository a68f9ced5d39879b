"""The reconciler's entry points, used by the CLI and by tests: plan and apply a Project
against a server. Everything here is orchestration; decisions live in plan.py."""

from __future__ import annotations

from collections.abc import Callable

from pipeform.spec.project import Project

from .api import ServerAPI
from .apply import Progress, apply_plan
from .desired import desired_state
from .lock import acquire
from .model import Outcome, Plan
from .observe import observe
from .plan import make_plan


async def plan_project(
    api: ServerAPI,
    project: Project,
    *,
    prune: bool = False,
    allow_empty: bool = False,
    adopt: bool = False,
    targets: tuple[str, ...] = (),
) -> tuple[Plan, frozenset[str]]:
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


async def apply_project_plan(
    api: ServerAPI,
    plan: Plan,
    *,
    lock_timeout: float = 0.0,
    replan: Callable[[], object] | None = None,
    progress: Progress | None = None,
) -> tuple[Outcome, ...]:
    """Take the lock, check the server still matches what the plan saw, apply, unlock."""
    if not plan.pending:
        return ()
    lease = await acquire(api, plan.project, lock_timeout)
    try:
        actual = await observe(api, plan.project, plan.env)
        from .model import fingerprint

        if fingerprint(list(actual.resources)) != plan.actual_fingerprint:
            raise StaleError("the server changed since this plan was made; run plan again")
        return await apply_plan(api, plan, actual.inventory, progress)
    finally:
        await lease.release()


class StaleError(RuntimeError):
    pass


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
    apply. Returns the plan applied and the outcomes (None when not confirmed or refused)."""
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
