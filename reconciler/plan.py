"""Desired + actual -> Plan. Pure: every decision the reconciler makes is made here.

The data model follows Terraform's internal/plans: a ResourceChange has an action and
before/after with a written contract (create: before is None; delete: after is None;
update/replace/no-op: both set); `reason` is for display only and must not influence
apply. No-op changes are kept so a plan says what it looked at. The JSON form is
versioned (`format_version`) and separate from these types; secrets are masked in it.

Ownership: pipeform changes or deletes only addresses in its inventory (what it created
for this project/env). A desired object that already exists but is not owned is refused
unless adopt=True. Deletes happen only with prune=True, and never of everything owned
unless allow_empty=True.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pipeform.spec.diagnostics import Diagnostic

from .changes import Action, FieldDiff, ResourceChange
from .diagnostics import ADOPT_REQUIRED, PRUNE_ALL, diagnostic_from_json, diagnostic_to_json, located
from .kinds import KINDS
from .kinds.base import Body
from .resources import MASK, Resource, canonical, fingerprint, masked, touches, unquote

PLAN_FORMAT_VERSION = "1.0"
__all__ = ["Action", "FieldDiff", "Plan", "ResourceChange", "make_plan"]


@dataclass(frozen=True)
class Plan:
    project: str
    env: str | None
    server: str
    changes: tuple[ResourceChange, ...]
    actual_fingerprint: str  # hash of the observed state the plan was computed from
    diagnostics: tuple[Diagnostic, ...] = ()  # refusals (adoption without --adopt, prune to empty, ...)
    orphans: tuple[str, ...] = ()  # owned, left the specs, kept because prune is off

    @property
    def errors(self) -> tuple[str, ...]:
        """The refusals' messages (what people read; `diagnostics` has codes and origins)."""
        return tuple(d.message for d in self.diagnostics)

    @property
    def pending(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for c in self.changes:
            out[c.action.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return plan_to_json(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Plan:
        return plan_from_json(data)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(c.address for c in self.changes)


def _mask_diff(d: FieldDiff, sensitive: tuple[str, ...]) -> FieldDiff:
    return FieldDiff(d.path, MASK, MASK) if touches(d.path, sensitive) else d


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The versioned JSON form. Secrets are masked: a saved plan never holds them (apply
    reads them again from the environment)."""
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "project": plan.project,
        "env": plan.env,
        "server": plan.server,
        "actual_fingerprint": plan.actual_fingerprint,
        "errors": list(plan.errors),
        "diagnostics": [diagnostic_to_json(d) for d in plan.diagnostics],
        "orphans": list(plan.orphans),
        "summary": plan.counts(),
        "changes": [
            {
                "address": c.address,
                "kind": c.kind,
                "name": c.name,
                "action": c.action.value,
                "before": masked(c.before, c.sensitive),
                "after": masked(c.after, c.sensitive),
                "diffs": [asdict(_mask_diff(d, c.sensitive)) for d in c.diffs],
                "origin": c.origin,
                "server_id": c.server_id,
                "sensitive": list(c.sensitive),
                "reason": c.reason,
                "parent": c.parent,
            }
            for c in plan.changes
        ],
    }


def plan_from_json(data: dict[str, Any]) -> Plan:
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise ValueError(
            f"unsupported plan format {data.get('format_version')!r}; this pipeform writes {PLAN_FORMAT_VERSION}"
        )
    changes = tuple(
        ResourceChange(
            address=c["address"],
            kind=c["kind"],
            name=c["name"],
            action=Action(c["action"]),
            before=c["before"],
            after=c["after"],
            diffs=tuple(FieldDiff(**d) for d in c["diffs"]),
            origin=c["origin"],
            server_id=c["server_id"],
            sensitive=tuple(c["sensitive"]),
            reason=c["reason"],
            parent=c.get("parent") or KINDS[c["kind"]].parent_of(c["name"]),
        )
        for c in data["changes"]
    )
    if "diagnostics" in data:
        diagnostics = tuple(diagnostic_from_json(d) for d in data["diagnostics"])
    else:  # format 1.0 files written before diagnostics carry only the messages
        diagnostics = tuple(located("plan.error", e) for e in data.get("errors", ()))
    return Plan(
        data["project"],
        data["env"],
        data["server"],
        changes,
        data["actual_fingerprint"],
        diagnostics,
        tuple(data.get("orphans", ())),
    )


def diff(old: Any, new: Any, path: str = "") -> list[FieldDiff]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldDiff] = []
        for k in sorted(set(old) | set(new)):
            out.extend(diff(old.get(k), new.get(k), f"{path}.{k}" if path else k))
        return out
    if type(old) is type(new) and isinstance(old, str | int | float | None) and old == new:
        return []  # the common leaf: equal and of one type, so equal in canonical form too (True == 1 is not)
    return [] if canonical(old) == canonical(new) else [FieldDiff(path, old, new)]


def _change(d: Resource, a: Resource | None, inventory: frozenset[str], adopt: bool) -> ResourceChange | Diagnostic:
    """The change for one desired resource, or the refusal (an error) to make it."""
    kind = KINDS[d.kind]

    def change(action: Action, before: Body | None, after: Body, **more: Any) -> ResourceChange:
        return ResourceChange(
            d.address,
            d.kind,
            d.name,
            action,
            before,
            after,
            origin=d.origin,
            sensitive=d.sensitive,
            parent=d.parent,
            **more,
        )

    if a is None:
        return change(Action.CREATE, None, d.body, reason="not on the server")
    if d.address not in inventory and not adopt and not kind.belongs_to_parent:
        return located(
            ADOPT_REQUIRED,
            f"{d.address} already exists on the server and was not created by pipeform;"
            " pass --adopt to take it over (or `pipeform import`)",
            d.origin,
        )
    want, got = kind.comparable(d.body, a.body)
    diffs = tuple(diff(got, want))
    if not diffs:
        return change(Action.NOOP, got, want, server_id=a.server_id)
    action = Action.REPLACE if any(f.path in kind.replace_on for f in diffs) else Action.UPDATE
    reason = "adopted" if d.address not in inventory else ""
    return change(action, got, {**d.body}, diffs=diffs, server_id=a.server_id, reason=reason)


def _deletes(
    desired: list[Resource], actual: tuple[Resource, ...], inventory: frozenset[str], prune: bool, allow_empty: bool
) -> tuple[list[Resource], list[Diagnostic], list[str]]:
    """What to delete, the refusal to prune everything, and the orphans: owned objects that
    left the specs and stay because prune is off."""
    wanted = {d.address for d in desired}
    # An object that belongs to its parent (a schedule to its deployment) and left the spec
    # of an owned parent is removed with the parent's update, prune or not (prefect.yaml
    # semantics: `schedules` is the full list).
    owned_parents = wanted & inventory

    def child(r: Resource) -> bool:
        return KINDS[r.kind].belongs_to_parent

    stale = [
        a
        for a in actual
        if a.address not in wanted and ((prune and a.address in inventory) or (child(a) and a.parent in owned_parents))
    ]
    owned_present = [a for a in actual if a.address in inventory and not child(a)]
    deletes = [a for a in stale if not child(a) or a.parent in owned_parents or prune]
    errors = []
    if prune and owned_present and not any(not child(d) for d in desired) and not allow_empty:
        message = (
            f"refusing to prune all {len(owned_present)} objects pipeform owns for this project:"
            " the specs declare nothing (pass --allow-empty)"
        )
        errors.append(located(PRUNE_ALL, message))
        deletes = []
    deleted = {a.address for a in deletes}
    orphans = sorted(a.address for a in owned_present if a.address not in wanted and a.address not in deleted)
    return deletes, errors, orphans


def _order(c: ResourceChange) -> tuple[bool, int, str]:
    """Kinds in registry order (pools before their queues, deployments before schedules),
    deletes after everything else in reverse order."""
    order = KINDS[c.kind].order
    return (c.action is Action.DELETE, -order if c.action is Action.DELETE else order, c.address)


def make_plan(
    desired: list[Resource],
    actual: tuple[Resource, ...],
    inventory: frozenset[str],
    *,
    project: str,
    env: str | None,
    server: str,
    prune: bool = False,
    allow_empty: bool = False,
    adopt: bool = False,
    targets: tuple[str, ...] = (),
) -> Plan:
    have = {r.address: r for r in actual}
    changes: list[ResourceChange] = []
    errors: list[Diagnostic] = []
    for d in desired:
        made = _change(d, have.get(d.address), inventory, adopt)
        if isinstance(made, Diagnostic):
            errors.append(made)
        else:
            changes.append(made)
    deletes, refused, orphans = _deletes(desired, actual, inventory, prune, allow_empty)
    errors += refused
    changes += [
        ResourceChange(
            a.address,
            a.kind,
            a.name,
            Action.DELETE,
            a.body,
            None,
            server_id=a.server_id,
            reason="owned by pipeform, no longer in the specs",
            parent=a.parent,
        )
        for a in deletes
    ]
    targets = tuple(unquote(t) for t in targets)

    def targeted(address: str) -> bool:
        return not targets or any(address == t or address.startswith(t.rstrip("/") + "/") for t in targets)

    changes = sorted((c for c in changes if targeted(c.address)), key=_order)
    orphans = [a for a in orphans if targeted(a)]
    addresses = {c.address for c in changes}
    return Plan(project, env, server, tuple(changes), fingerprint(actual, addresses), tuple(errors), tuple(orphans))
