"""Desired + actual -> Plan. Pure: every decision the reconciler makes is made here.

Ownership: pipeform changes or deletes only addresses in its inventory (what it created
for this project/env). A desired object that already exists but is not owned is refused
unless adopt=True. Deletes happen only with prune=True, and never of everything owned
unless allow_empty=True.
"""

from __future__ import annotations

from typing import Any

from .model import Action, Change, FieldDiff, Plan, Resource, canonical, fingerprint
from .normalize import comparable

ORDER = {
    "work_pool": 0,
    "work_queue": 1,
    "global_limit": 2,
    "tag_limit": 2,
    "variable": 2,
    "deployment": 3,
    "schedule": 4,
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
    changes: list[Change] = []
    errors: list[str] = []
    for d in desired:
        a = have.get(d.address)
        if a is None:
            changes.append(
                Change(
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
                Change(
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
            Change(
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
            Change(
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
    if targets:
        changes = [
            c for c in changes if any(c.address == t or c.address.startswith(t.rstrip("/") + "/") for t in targets)
        ]
    changes.sort(
        key=lambda c: (c.action is Action.DELETE, ORDER[c.kind] * (-1 if c.action is Action.DELETE else 1), c.address)
    )
    return Plan(project, env, server, tuple(changes), fingerprint(list(actual)), tuple(errors))
