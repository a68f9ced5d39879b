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
from enum import StrEnum
from typing import Any

from .normalize import comparable
from .resources import MASK, Resource, canonical, fingerprint, masked, touches, unquote

PLAN_FORMAT_VERSION = "1.0"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # only where the server forbids an in-place change (work pool type)
    NOOP = "no-op"


@dataclass(frozen=True)
class FieldDiff:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ResourceChange:
    address: str
    kind: str
    name: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diffs: tuple[FieldDiff, ...] = ()
    origin: str | None = None
    server_id: str | None = None
    sensitive: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    project: str
    env: str | None
    server: str
    changes: tuple[ResourceChange, ...]
    actual_fingerprint: str  # hash of the observed state the plan was computed from
    errors: tuple[str, ...] = ()  # refusals (adoption without --adopt, prune to empty, ...)
    orphans: tuple[str, ...] = ()  # owned, left the specs, kept because prune is off

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
        )
        for c in data["changes"]
    )
    return Plan(
        data["project"],
        data["env"],
        data["server"],
        changes,
        data["actual_fingerprint"],
        tuple(data.get("errors", ())),
        tuple(data.get("orphans", ())),
    )


ORDER = {
    "work_pool": 0,
    "work_queue": 1,
    "global_limit": 2,
    "tag_limit": 2,
    "variable": 2,
    "deployment": 3,
    "schedule": 4,
    "automation": 5,  # after the deployments its actions reference (deleted before them)
}
REPLACE_ON = {"work_pool": ("type",)}  # immutable on the server


def _subset(actual: Any, wanted: Any) -> Any:
    """The part of `actual` at the paths `wanted` sets (work pool job template overrides)."""
    if isinstance(wanted, dict) and isinstance(actual, dict):
        return {k: _subset(actual.get(k), v) for k, v in wanted.items()}
    return actual


def _comparable_pair(desired: Resource, actual: Resource) -> tuple[dict[str, Any], dict[str, Any]]:
    want = comparable(desired.body)
    have = comparable(actual.body, desired.body)
    if desired.kind == "work_pool":
        have["base_job_template"] = _subset(have.get("base_job_template"), want.get("base_job_template") or {})
    return want, have


def diff(old: Any, new: Any, path: str = "") -> list[FieldDiff]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldDiff] = []
        for k in sorted(set(old) | set(new)):
            out.extend(diff(old.get(k), new.get(k), f"{path}.{k}" if path else k))
        return out
    return [] if canonical(old) == canonical(new) else [FieldDiff(path, old, new)]


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
    errors: list[str] = []
    for d in desired:
        a = have.get(d.address)
        if a is None:
            changes.append(
                ResourceChange(
                    d.address,
                    d.kind,
                    d.name,
                    Action.CREATE,
                    None,
                    d.body,
                    origin=d.origin,
                    sensitive=d.sensitive,
                    reason="not on the server",
                )
            )
            continue
        if d.address not in inventory and not adopt and d.kind != "schedule":
            errors.append(
                f"{d.address} already exists on the server and was not created by pipeform; pass --adopt to take it over (or `pipeform import`)"
            )
            continue
        want, got = _comparable_pair(d, a)
        diffs = tuple(diff(got, want))
        if not diffs:
            changes.append(
                ResourceChange(
                    d.address,
                    d.kind,
                    d.name,
                    Action.NOOP,
                    got,
                    want,
                    origin=d.origin,
                    server_id=a.server_id,
                    sensitive=d.sensitive,
                )
            )
            continue
        action = Action.REPLACE if any(f.path in REPLACE_ON.get(d.kind, ()) for f in diffs) else Action.UPDATE
        after = {**d.body}
        changes.append(
            ResourceChange(
                d.address,
                d.kind,
                d.name,
                action,
                got,
                after,
                diffs,
                d.origin,
                a.server_id,
                d.sensitive,
                reason="adopted" if d.address not in inventory else "",
            )
        )
    wanted = {d.address for d in desired}
    # Schedules belong to their deployment: a schedule of an owned deployment that left the
    # spec is removed with the deployment update, prune or not (prefect.yaml semantics: `schedules` is the full list).
    owned_deployments = {d.address.removeprefix("deployment.") for d in desired if d.kind == "deployment"} & {
        a.removeprefix("deployment.") for a in inventory
    }
    stale = [
        a
        for a in actual
        if a.address not in wanted
        and (
            (prune and a.address in inventory)
            or (a.kind == "schedule" and a.name.rsplit("/", 1)[0] in owned_deployments)
        )
    ]
    owned_present = [a for a in actual if a.address in inventory and a.kind != "schedule"]
    deletes = [a for a in stale if a.kind != "schedule" or a.name.rsplit("/", 1)[0] in owned_deployments or prune]
    if prune and owned_present and not any(d.kind != "schedule" for d in desired) and not allow_empty:
        errors.append(
            f"refusing to prune all {len(owned_present)} objects pipeform owns for this project: the specs declare nothing (pass --allow-empty)"
        )
        deletes = []
    for a in deletes:
        changes.append(
            ResourceChange(
                a.address,
                a.kind,
                a.name,
                Action.DELETE,
                a.body,
                None,
                server_id=a.server_id,
                reason="owned by pipeform, no longer in the specs",
            )
        )
    deleted = {a.address for a in deletes}
    orphans = sorted(a.address for a in owned_present if a.address not in wanted and a.address not in deleted)

    targets = tuple(unquote(t) for t in targets)

    def targeted(address: str) -> bool:
        return not targets or any(address == t or address.startswith(t.rstrip("/") + "/") for t in targets)

    changes = [c for c in changes if targeted(c.address)]
    orphans = [a for a in orphans if targeted(a)]
    changes.sort(
        key=lambda c: (c.action is Action.DELETE, ORDER[c.kind] * (-1 if c.action is Action.DELETE else 1), c.address)
    )
    addresses = {c.address for c in changes}
    return Plan(project, env, server, tuple(changes), fingerprint(actual, addresses), tuple(errors), tuple(orphans))
