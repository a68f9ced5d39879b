"""Server objects -> pipeform spec documents (`pipeform import`), so a team can adopt
pipeform for what it already has. Pure once the server's JSON is read (read_server).

Left out, with a note: pipeform's own bookkeeping (inventory, locks), server-internal
limits (tag:*, deployment:*), deployments made by pipeform from Flow documents (their
specs exist already), names the spec language does not accept, and automations whose
trigger or actions it cannot express (compound/sequence triggers, block-based actions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipeform.spec.flow_names import default_name
from pipeform.spec.models.common import PREFECT_NAME_PATTERN, VARIABLE_NAME_PATTERN

from .api import ServerAPI
from .inventory import OWNER_TAG_PREFIX, is_inventory_variable
from .lock import LOCK_PREFIX

NAME = re.compile(PREFECT_NAME_PATTERN)
VARIABLE_NAME = re.compile(VARIABLE_NAME_PATTERN)
ENTRYPOINT = re.compile(r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$")
IMPORTABLE = ("WorkPool", "ConcurrencyLimit", "Variable", "Deployment", "Automation")


@dataclass(frozen=True)
class Imported:
    documents: tuple[dict[str, Any], ...]
    skipped: tuple[str, ...]  # "kind name: why"


async def read_server(api: ServerAPI) -> dict[str, Any]:
    pools = await api.all("/work_pools/filter")
    return {
        "pools": pools,
        "queues": {p["name"]: await api.all(f"/work_pools/{p['name']}/queues/filter") for p in pools},
        "limits": await api.all("/v2/concurrency_limits/filter"),
        "tag_limits": await api.all("/concurrency_limits/filter"),
        "variables": await api.all("/variables/filter"),
        "flows": {f["id"]: f["name"] for f in await api.all("/flows/filter")},
        "deployments": await api.all("/deployments/filter"),
        "automations": await api.all("/automations/filter"),
    }


def _doc(kind: str, name: str, spec: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if description:
        meta["description"] = description
    return {"apiVersion": "pipeform/v1", "kind": kind, "metadata": meta, "spec": spec}


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, {}, [], False) or k in ("value", "limit")}


def to_documents(server: dict[str, Any], kinds: tuple[str, ...] = IMPORTABLE, name: str | None = None) -> Imported:
    docs: list[dict[str, Any]] = []
    skipped: list[str] = []

    def add(kind: str, obj_name: str, spec: dict[str, Any], description: str | None = None) -> None:
        if kind not in kinds or (name and obj_name != name):
            return
        if not (VARIABLE_NAME if kind == "Variable" else NAME).match(obj_name):
            rule = (
                "lower-case letters, digits, '-' and '_'"
                if kind == "Variable"
                else "any characters but '/', '%', '&', '>', '<'"
            )
            skipped.append(f"{kind} {obj_name!r}: not a name the spec language accepts ({rule})")
            return
        docs.append(_doc(kind, obj_name, spec, description))

    for pool in server["pools"]:
        queues = [
            _compact(
                {
                    "name": q["name"],
                    "description": q.get("description"),
                    "concurrency_limit": q.get("concurrency_limit"),
                    "priority": q.get("priority"),
                    "paused": bool(q.get("is_paused")),
                }
            )
            for q in server["queues"].get(pool["name"], [])
            if q["name"] != "default"
        ]
        spec = {
            "type": pool["type"],
            "description": pool.get("description"),
            "concurrency_limit": pool.get("concurrency_limit"),
            "paused": bool(pool.get("is_paused")),
            "queues": queues,
        }
        add("WorkPool", pool["name"], _compact(spec))
    for lim in server["limits"]:
        if lim["name"].startswith(("tag:", "deployment:", LOCK_PREFIX)):
            continue
        spec = _compact({"limit": lim["limit"], "slot_decay_per_second": lim.get("slot_decay_per_second")})
        add("ConcurrencyLimit", lim["name"], spec | ({} if lim["active"] else {"active": False}))
    for lim in server["tag_limits"]:
        add("ConcurrencyLimit", f"tag-{lim['tag']}", {"limit": lim["concurrency_limit"], "tag": lim["tag"]})
    for var in server["variables"]:
        if var["name"].startswith(LOCK_PREFIX) or is_inventory_variable(var["name"]):
            continue
        tags = [t for t in var.get("tags") or [] if not t.startswith(OWNER_TAG_PREFIX)]
        add("Variable", var["name"], _compact({"value": var["value"], "tags": tags}))
    for dep in server["deployments"]:
        flow = server["flows"].get(dep["flow_id"], "?")
        entrypoint = dep.get("entrypoint") or ""
        if not ENTRYPOINT.match(entrypoint):
            if "Deployment" in kinds and (not name or dep["name"] == name):
                skipped.append(f"Deployment {flow}/{dep['name']}: entrypoint {entrypoint!r} is not 'file.py:function'")
            continue
        add("Deployment", dep["name"], _deployment_spec(dep, flow), None)
    names = {d["id"]: f"{server['flows'].get(d['flow_id'], '?')}/{d['name']}" for d in server["deployments"]}
    for auto in server.get("automations", []):
        if "Automation" not in kinds or (name and auto["name"] != name):
            continue
        spec, why = _automation_spec(auto, names)
        if spec is None:
            skipped.append(f"Automation {auto['name']!r}: {why}")
            continue
        add("Automation", auto["name"], spec)
    return Imported(tuple(docs), tuple(skipped))


AUTOMATION_ACTIONS = {
    "run-deployment": ("parameters", "job_variables", "schedule_after"),
    "pause-deployment": (),
    "resume-deployment": (),
    "cancel-flow-run": (),
    "suspend-flow-run": (),
    "change-flow-run-state": ("state", "name", "message", "force"),
}


def _automation_spec(auto: dict[str, Any], names: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    """An automation as an Automation spec, or (None, why) when the spec language cannot say it."""
    t = auto.get("trigger") or {}
    if t.get("type") != "event":
        return None, f"trigger type {t.get('type')!r} is not supported (only event triggers)"
    trigger = _compact(
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
    lists: dict[str, list[dict[str, Any]]] = {}
    for key in ("actions", "actions_on_trigger", "actions_on_resolve"):
        lists[key] = []
        for a in auto.get(key) or []:
            if a.get("type") not in AUTOMATION_ACTIONS:
                return None, f"action type {a.get('type')!r} is not supported"
            action: dict[str, Any] = {"type": a["type"]}
            if a.get("deployment_id") and a.get("source", "selected") == "selected":
                if a["deployment_id"] not in names:
                    return None, f"action refers to a deployment that no longer exists ({a['deployment_id']})"
                action["deployment"] = names[a["deployment_id"]]
            action.update(_compact({k: a.get(k) for k in AUTOMATION_ACTIONS[a["type"]]}))
            lists[key].append(action)
    spec = {
        "description": auto.get("description") or None,
        "enabled": auto.get("enabled", True),
        "tags": [t for t in auto.get("tags") or [] if not t.startswith(OWNER_TAG_PREFIX)],
        "trigger": trigger,
        **lists,
    }
    out = _compact(spec)
    if spec["enabled"] is False:
        out["enabled"] = False
    out.setdefault("actions", [])
    return out, ""


def _deployment_spec(dep: dict[str, Any], flow: str) -> dict[str, Any]:
    entrypoint = dep["entrypoint"]
    pool = None
    if dep.get("work_pool_name"):
        pool = _compact(
            {
                "name": dep["work_pool_name"],
                "queue": dep.get("work_queue_name") if dep.get("work_queue_name") != "default" else None,
                "job_variables": dep.get("job_variables") or {},
            }
        )
    schedules = []
    for s in dep.get("schedules") or []:
        sched = {k: v for k, v in (s.get("schedule") or {}).items() if v is not None}
        sched.pop("timezone", None) if sched.get("timezone") == "UTC" else None
        schedules.append(
            _compact(
                {
                    "slug": s.get("slug"),
                    **sched,
                    "parameters": s.get("parameters") or {},
                    "max_scheduled_runs": s.get("max_scheduled_runs"),
                }
            )
            | ({"active": False} if not s.get("active", True) else {})
        )
    gcl = dep.get("global_concurrency_limit") or {}
    options = dep.get("concurrency_options") or {}
    limit: Any = None
    if gcl.get("limit"):
        limit = _compact(
            {
                "limit": gcl["limit"],
                "collision_strategy": options.get("collision_strategy"),
                "grace_period_seconds": options.get("grace_period_seconds"),
            }
        )
    version = (dep.get("version") or "").split("+spec.", 1)[0] or None
    spec = {
        "entrypoint": entrypoint,
        "flow_name": flow if flow != default_name(entrypoint.rsplit(":", 1)[1]) else None,
        "work_pool": pool,
        "parameters": dep.get("parameters") or {},
        "schedules": schedules,
        "concurrency_limit": limit,
        "tags": [t for t in dep.get("tags") or [] if not t.startswith(OWNER_TAG_PREFIX)],
        "description": dep.get("description"),
        "version": version,
        "paused": bool(dep.get("paused")),
        "pull": dep.get("pull_steps") or None,
    }
    out = _compact(spec)
    if dep.get("enforce_parameter_schema") is False:
        out["enforce_parameter_schema"] = False
    return out
