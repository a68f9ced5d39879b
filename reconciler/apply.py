"""Plan -> server writes. Takes only the plan. Changes run phase by phase (pools, queues,
limits and variables, deployments, schedules, then deletes in reverse order); inside a
phase they run concurrently, and one failure does not stop the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from pipeform.spec.diagnostics import Diagnostic

from .api import ApiError, ServerAPI, attempts
from .changes import Action
from .changes import ResourceChange as Change
from .diagnostics import APPLY_BLOCKED, APPLY_INVALID, APPLY_SERVER, located
from .inventory import write_inventory
from .kinds import KINDS, ApplyContext
from .kinds.common import secrets_filled
from .kinds.deployment import DEPLOYMENT
from .plan import Plan
from .resources import scrub, secret_values


@dataclass(frozen=True)
class Outcome:
    """What happened to one change. Errors are values, never raised out of apply."""

    address: str
    action: Action
    ok: bool
    error: str | None = None
    attempts: int = 1  # requests sent for this change, retries included
    code: str | None = None  # of a failure: apply.server, apply.invalid, apply.blocked
    origin: str | None = None  # the spec document of the object

    @property
    def diagnostic(self) -> Diagnostic | None:
        """A failure as a coded, located Diagnostic (None when the change was made)."""
        if self.ok:
            return None
        return located(self.code or APPLY_INVALID, f"{self.address}: {self.error}", self.origin)


Progress = Callable[[Outcome], None]


def _secrets_of(change: Change) -> list[str]:
    try:
        return secret_values(secrets_filled(change.after), change.sensitive) if change.after else []
    except ValueError:
        return []


async def _run(ctx: ApplyContext, change: Change) -> Outcome:
    sent = [0]
    attempts.set(sent)  # _run() is its own task (gather), so this counter is this change's
    try:
        await KINDS[change.kind].apply(ctx, change)
        return Outcome(change.address, change.action, True, attempts=sent[0], origin=change.origin)
    except (ApiError, ValueError, KeyError) as exc:
        # the server may echo the request body (a 422 does): never let a secret through
        secrets = _secrets_of(change)
        if isinstance(exc, ApiError):
            error, code = exc.scrubbed(secrets), APPLY_SERVER
        else:
            text = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc)
            error, code = scrub(text, secrets), APPLY_INVALID
        return Outcome(change.address, change.action, False, error, sent[0], code, change.origin)


async def apply_plan(
    api: ServerAPI, plan: Plan, inventory: frozenset[str], progress: Progress | None = None
) -> tuple[Outcome, ...]:
    """Apply every pending change; returns one Outcome each and updates the inventory."""
    ids = {c.address: c.server_id for c in plan.changes if c.kind == DEPLOYMENT.name and c.server_id}
    ctx = ApplyContext(api, ids)
    outcomes: list[Outcome] = []
    phases: dict[tuple[bool, int], list[Change]] = {}
    for c in plan.pending:
        order = KINDS[c.kind].order
        phases.setdefault((c.action is Action.DELETE, -order if c.action is Action.DELETE else order), []).append(c)
    failed: set[str] = set()
    # Record the intent first: if this process dies half-way, what it created is already
    # owned, so the next apply converges instead of refusing its own objects as foreign.
    intent = set(inventory) | {c.address for c in plan.changes if c.action is not Action.DELETE}
    if intent != set(inventory):
        await write_inventory(api, plan.project, plan.env, intent)

    async def one(c: Change, failed: frozenset[str]) -> Outcome:
        why = KINDS[c.kind].blocked(c, failed)
        blocked = Outcome(c.address, c.action, False, why, code=APPLY_BLOCKED, origin=c.origin) if why else None
        o = blocked or await _run(ctx, c)
        if progress:
            progress(o)
        return o

    for key in sorted(phases):
        results = await asyncio.gather(*(one(c, frozenset(failed)) for c in phases[key]))
        failed |= {o.address for o in results if not o.ok}
        outcomes.extend(results)
    owned = set(intent)
    for o in outcomes:
        if o.ok and o.action is Action.DELETE:
            owned.discard(o.address)  # a failed delete stays owned: the next prune retries it
    if owned != intent:
        await write_inventory(api, plan.project, plan.env, owned)
    return tuple(outcomes)
