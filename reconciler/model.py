"""The reconciler's data: resources, the plan (Terraform-style, versioned JSON), outcomes.

Contract of a Change (as in Terraform): create has before=None; delete has after=None;
update has both; no-op changes are kept so a plan can say what it looked at. `reason` is
for display only and must not influence apply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

PLAN_FORMAT_VERSION = "1.0"
MASK = "(sensitive)"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # only where the server forbids an in-place change (work pool type)
    NOOP = "no-op"


@dataclass(frozen=True)
class Resource:
    address: str  # kind.name, e.g. deployment.hello/hello-every-hour
    kind: str
    name: str
    body: dict[str, Any]  # normalized, comparable fields
    origin: str | None = None  # file:line:col of the declaring document
    sensitive: tuple[str, ...] = ()  # dotted paths inside body whose values are secret
    server_id: str | None = None  # actual side only


@dataclass(frozen=True)
class FieldDiff:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
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
    changes: tuple[Change, ...]
    actual_fingerprint: str  # hash of the observed state the plan was computed from
    errors: tuple[str, ...] = ()  # refusals (adoption without --adopt, prune to empty, ...)

    @property
    def pending(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for c in self.changes:
            out[c.action.value] += 1
        return out


@dataclass(frozen=True)
class Outcome:
    address: str
    action: Action
    ok: bool
    error: str | None = None
    attempts: int = 1


def canonical(value: Any) -> str:
    """JSON text that ignores key order and int/float spelling (1 == 1.0)."""

    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    return json.dumps(norm(value), sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(resources: list[Resource]) -> str:
    text = canonical(sorted(([r.address, r.body] for r in resources), key=lambda x: x[0]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def masked(body: dict[str, Any] | None, sensitive: tuple[str, ...]) -> dict[str, Any] | None:
    if body is None or not sensitive:
        return body
    out = json.loads(json.dumps(body, default=str))
    for path in sensitive:
        node = out
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and keys[-1] in node:
            node[keys[-1]] = MASK
    return out


def _mask_diff(d: FieldDiff, sensitive: tuple[str, ...]) -> FieldDiff:
    hit = any(d.path == s or d.path.startswith(s + ".") or s.startswith(d.path + ".") for s in sensitive)
    return FieldDiff(d.path, MASK, MASK) if hit else d


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
        Change(
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
        data["project"], data["env"], data["server"], changes, data["actual_fingerprint"], tuple(data.get("errors", ()))
    )


_ = field
