"""The automation kind's values: its comparable form (server defaults applied to both sides,
deployments named FLOW/NAME, never by id) and a server automation as a spec (import). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeform.spec.models.automation import BLOCK_ACTIONS, DEPLOYMENT_ACTIONS

from ..inventory import OWNER_TAG_PREFIX
from ..normalize import seconds
from .automation_refs import ACTION_REF, REF_FIELDS
from .common import compact

ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
# The action types the spec language has, with the fields each carries besides `type`/`deployment`.
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "run-deployment": ("parameters", "job_variables", "schedule_after"),
    "pause-deployment": (),
    "resume-deployment": (),
    "cancel-flow-run": (),
    "suspend-flow-run": (),
    "change-flow-run-state": ("state", "name", "message", "force"),
    "delete-flow-run": (),
    "resume-flow-run": (),
    "do-nothing": (),
    "send-notification": ("subject", "body"),
    "call-webhook": ("payload",),
    **{t: () for t in ACTION_REF if t not in BLOCK_ACTIONS},
}
NOTIFICATION_SUBJECT = "Prefect automated notification"  # Prefect's default
assert set(DEPLOYMENT_ACTIONS) <= set(ACTION_FIELDS)


def automation_trigger(t: dict[str, Any]) -> dict[str, Any]:
    """An event trigger with the server's defaults (sets as sorted lists, `within` in
    seconds, 10 s for a Proactive trigger without one); compound and sequence triggers
    with theirs, recursively; other types (metric: Prefect Cloud) kept as the server has
    them, without their ids."""
    kind = t.get("type", "event")
    if kind in ("compound", "sequence"):
        out = {
            "type": kind,
            "triggers": [automation_trigger(inner) for inner in t.get("triggers") or []],
            "within": seconds(t.get("within")),
        }
        if kind == "compound":
            out["require"] = t.get("require")
        return out
    if kind != "event":
        kept: dict[str, Any] = _without_ids(t)
        return kept
    posture = t.get("posture") or "Reactive"
    within = seconds(t.get("within")) or 0.0
    if posture == "Proactive" and within == 0:
        within = 10.0
    return {
        "type": "event",
        "match": t.get("match") or {},
        "match_related": t.get("match_related") or {},
        "after": sorted(t.get("after") or []),
        "expect": sorted(t.get("expect") or []),
        "for_each": sorted(t.get("for_each") or []),
        "posture": posture,
        "threshold": t.get("threshold", 1),
        "within": within,
    }


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def automation_action(a: dict[str, Any], deployment: str | None, ref: str | None = None) -> dict[str, Any]:
    """One action with the server's defaults; `deployment` is FLOW/NAME and `ref` the name
    of the block, work pool, work queue or automation it names (desired: from the spec;
    actual: the ids mapped back), never an id."""
    kind = a["type"]
    if kind in BLOCK_ACTIONS:
        if kind == "send-notification":
            return {
                "type": kind,
                "block": ref,
                "subject": a.get("subject") or NOTIFICATION_SUBJECT,
                "body": a.get("body"),
            }
        return {"type": kind, "block": ref, "payload": a.get("payload") or ""}
    if kind in ACTION_REF:
        return {"type": kind, "source": "selected" if ref else "inferred", ACTION_REF[kind]: ref}
    if kind in DEPLOYMENT_ACTIONS:
        out: dict[str, Any] = {
            "type": kind,
            "source": "selected" if deployment else "inferred",
            "deployment": deployment,
        }
        if kind == "run-deployment":
            out["parameters"] = a.get("parameters") or None
            out["job_variables"] = a.get("job_variables") or None
            out["schedule_after"] = seconds(a.get("schedule_after")) or 0.0
        return out
    if kind == "change-flow-run-state":
        return {
            "type": kind,
            "state": a.get("state"),
            "name": a.get("name"),
            "message": a.get("message"),
            "force": bool(a.get("force")),
        }
    if kind in ("cancel-flow-run", "suspend-flow-run", "delete-flow-run", "resume-flow-run", "do-nothing"):
        return {"type": kind}
    return dict(a)  # a type the spec language has no variant for (made by hand): compared as is


def automation_body(
    *,
    description: str | None,
    enabled: bool,
    tags: list[str],
    trigger: dict[str, Any],
    actions: list[dict[str, Any]],
    actions_on_trigger: list[dict[str, Any]],
    actions_on_resolve: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "description": description or "",
        "enabled": bool(enabled),
        "tags": sorted(set(tags)),
        "trigger": automation_trigger(trigger),
        "actions": actions,
        "actions_on_trigger": actions_on_trigger,
        "actions_on_resolve": actions_on_resolve,
    }


def action_deployments(body: dict[str, Any]) -> set[str]:
    """FLOW/NAME of every deployment an automation body's actions reference."""
    return {
        a["deployment"]
        for key in ACTION_LISTS
        for a in body.get(key) or []
        if a.get("type") in DEPLOYMENT_ACTIONS and a.get("deployment")
    }


def server_action(
    a: dict[str, Any], ids: dict[str, str], refs: dict[tuple[str, str], str] | None = None
) -> dict[str, Any]:
    """A normalized action (deployment by FLOW/NAME, other targets by name) -> the server's
    form (by id: `ids` for deployments, `refs` for (field, name))."""
    field = ACTION_REF.get(a["type"])
    if field is not None:
        by_id = {k: v for k, v in a.items() if k != field}
        if a.get(field):
            by_id[REF_FIELDS[field]] = (refs or {})[(field, a[field])]
        return by_id
    if a["type"] not in DEPLOYMENT_ACTIONS:
        return dict(a)
    out: dict[str, Any] = {"type": a["type"], "source": a["source"]}
    if a.get("deployment"):
        out["deployment_id"] = ids[a["deployment"]]
    if a["type"] == "run-deployment":
        out.update(
            parameters=a.get("parameters"), job_variables=a.get("job_variables"), schedule_after=a["schedule_after"]
        )
    return out


def imported_trigger(t: Mapping[str, Any]) -> dict[str, Any]:
    trigger = compact(
        {
            "match": t.get("match") or {},
            "match_related": t.get("match_related") or {},
            "after": sorted(t.get("after") or []),
            "expect": sorted(t.get("expect") or []),
            "for_each": sorted(t.get("for_each") or []),
            "posture": t.get("posture") or "Reactive",
        }
    )
    if t.get("threshold", 1) != 1:
        trigger["threshold"] = t["threshold"]
    if t.get("within"):
        trigger["within"] = t["within"]
    return trigger


def server_ref_names(server: Any) -> dict[tuple[str, str], str]:
    """(field, id) -> name of the blocks, pools, queues and automations an import read."""
    out: dict[tuple[str, str], str] = {}
    for d in server.get("block_documents") or []:
        out[("block", d["id"])] = f"{(d.get('block_type') or {}).get('slug')}/{d['name']}"
    for p in server.get("pools") or []:
        out[("work_pool", p["id"])] = p["name"]
    for pool, queues in (server.get("queues") or {}).items():
        for q in queues:
            out[("work_queue", q["id"])] = f"{pool}/{q['name']}"
    for a in server.get("automations") or []:
        out[("automation", a["id"])] = a["name"]
    return out


def imported_spec(
    auto: dict[str, Any], names: dict[str, str], refs: dict[tuple[str, str], str] | None = None
) -> tuple[dict[str, Any] | None, str]:
    """An automation as an Automation spec, or (None, why) when the spec language cannot say it."""
    t = auto.get("trigger") or {}
    if t.get("type") != "event":
        return None, f"trigger type {t.get('type')!r} is not supported (only event triggers)"
    lists: dict[str, list[dict[str, Any]]] = {}
    for key in ACTION_LISTS:
        lists[key] = []
        for a in auto.get(key) or []:
            if a.get("type") not in ACTION_FIELDS:
                return None, f"action type {a.get('type')!r} is not supported"
            action: dict[str, Any] = {"type": a["type"]}
            if a.get("deployment_id") and a.get("source", "selected") == "selected":
                if a["deployment_id"] not in names:
                    return None, f"action refers to a deployment that no longer exists ({a['deployment_id']})"
                action["deployment"] = names[a["deployment_id"]]
            field = ACTION_REF.get(a["type"])
            if field and a.get(REF_FIELDS[field]) and a.get("source", "selected") == "selected":
                ref = (refs or {}).get((field, str(a[REF_FIELDS[field]])))
                if ref is None:
                    return None, f"action refers to a {field.replace('_', ' ')} that no longer exists"
                action[field] = ref
            action.update(compact({k: a.get(k) for k in ACTION_FIELDS[a["type"]]}))
            lists[key].append(action)
    spec = {
        "description": auto.get("description") or None,
        "enabled": auto.get("enabled", True),
        "tags": [t for t in auto.get("tags") or [] if not t.startswith(OWNER_TAG_PREFIX)],
        "trigger": imported_trigger(t),
        **lists,
    }
    out = compact(spec)
    if spec["enabled"] is False:
        out["enabled"] = False
    out.setdefault("actions", [])
    return out, ""
