"""Comparable forms of each kind, built the same way from the specs and from the server,
so that a fresh apply is always followed by an empty plan (server defaults applied to
both sides, server-populated fields dropped, values compared as parsed JSON)."""

from __future__ import annotations

import datetime as dt
from typing import Any

DEPLOYMENT_FIELDS = (
    "flow_name",
    "entrypoint",
    "work_pool_name",
    "work_queue_name",
    "parameters",
    "job_variables",
    "tags",
    "description",
    "version",
    "paused",
    "enforce_parameter_schema",
    "pull_steps",
    "parameter_openapi_schema",
    "concurrency_limit",
    "collision_strategy",
    "grace_period_seconds",
)
NOT_COMPARED = ("version_full", "_secret_sources")  # written, never diffed


def normalize_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """The server turns {} into {"type": "object", "properties": {}} and may drop empty
    definitions; do the same on both sides."""
    s = dict(schema or {})
    s.setdefault("type", "object")
    s.setdefault("properties", {})
    s.setdefault("title", "Parameters")
    if not s.get("definitions"):
        s.pop("definitions", None)
    if not s.get("required"):
        s.pop("required", None)
    return s


def deployment_body(**fields: Any) -> dict[str, Any]:
    body = {k: fields.get(k) for k in DEPLOYMENT_FIELDS}
    body["parameters"] = body["parameters"] or {}
    body["job_variables"] = body["job_variables"] or {}
    body["tags"] = sorted(body["tags"] or [])
    body["description"] = body["description"] or None
    body["pull_steps"] = body["pull_steps"] or None
    body["parameter_openapi_schema"] = normalize_schema(body["parameter_openapi_schema"])
    if body["concurrency_limit"] is None:
        body["collision_strategy"] = None
        body["grace_period_seconds"] = None
    elif body["collision_strategy"] is None:
        body["collision_strategy"] = "ENQUEUE"
    body["version"] = strip_git(body["version"])
    return body


def strip_git(version: str | None) -> str | None:
    """The git SHA part of a version changes on every commit; comparing it would rewrite
    (and so drop the scheduled runs of) every deployment on every commit."""
    return version.split(".git.", 1)[0] if version else version


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def _instant(value: Any) -> str:
    """An ISO timestamp in UTC, whatever spelling the spec or the server used."""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat()


def schedule_body(s: dict[str, Any], slug: str) -> dict[str, Any]:
    """From a spec Schedule dump or from the server's schedule (same keys)."""
    if s.get("cron") is not None:
        sched: dict[str, Any] = {
            "cron": s["cron"],
            "timezone": s.get("timezone") or "UTC",
            "day_or": True if s.get("day_or") is None else s["day_or"],
        }
    elif s.get("interval") is not None:
        sched = {"interval": _seconds(s["interval"]), "timezone": s.get("timezone") or "UTC"}
        if s.get("anchor_date"):
            sched["anchor_date"] = _instant(s["anchor_date"])
    else:
        sched = {"rrule": s.get("rrule"), "timezone": s.get("timezone") or "UTC"}
    return {
        "slug": slug,
        "schedule": sched,
        "active": s.get("active", True) is not False,
        "parameters": s.get("parameters") or {},
        "max_scheduled_runs": s.get("max_scheduled_runs"),
    }


def actual_schedule(raw: dict[str, Any], slug: str) -> dict[str, Any]:
    """A server schedule (JSON) -> schedule_body form."""
    sched = raw.get("schedule") or {}
    flat = {k: sched.get(k) for k in ("cron", "interval", "rrule", "timezone", "day_or", "anchor_date")}
    extra = {k: raw.get(k) for k in ("active", "parameters", "max_scheduled_runs")}
    return schedule_body({**flat, **extra}, slug)


def comparable(body: dict[str, Any], desired: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fields that take part in the diff. For an interval schedule without an anchor the
    server picks one: ignore it unless the spec sets it."""
    out = {k: v for k, v in body.items() if k not in NOT_COMPARED}
    if desired is not None and "schedule" in out:
        want = desired.get("schedule", {})
        sched = dict(out["schedule"])
        if "anchor_date" not in want:
            sched.pop("anchor_date", None)
        if isinstance(sched.get("rrule"), str) and "DTSTART" not in (want.get("rrule") or ""):
            # the server prefixes a DTSTART line to rrules that have none
            sched["rrule"] = "\n".join(ln for ln in sched["rrule"].splitlines() if not ln.startswith("DTSTART"))
        out["schedule"] = sched
    return out


# --- automations -------------------------------------------------------------------------

DEPLOYMENT_ACTIONS = ("run-deployment", "pause-deployment", "resume-deployment")


def automation_trigger(t: dict[str, Any]) -> dict[str, Any]:
    """An event trigger with the server's defaults (sets as sorted lists, `within` in
    seconds, 10 s for a Proactive trigger without one); other trigger types (compound,
    sequence: made by hand) are kept as the server has them, without their ids."""
    if t.get("type", "event") != "event":
        return _without_ids(t)
    posture = t.get("posture") or "Reactive"
    within = _seconds(t.get("within")) or 0.0
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


def automation_action(a: dict[str, Any], deployment: str | None) -> dict[str, Any]:
    """One action with the server's defaults; `deployment` is FLOW/NAME (desired: from the
    spec; actual: the action's deployment_id mapped back), never an id."""
    kind = a["type"]
    if kind in DEPLOYMENT_ACTIONS:
        out: dict[str, Any] = {
            "type": kind,
            "source": "selected" if deployment else "inferred",
            "deployment": deployment,
        }
        if kind == "run-deployment":
            out["parameters"] = a.get("parameters") or None
            out["job_variables"] = a.get("job_variables") or None
            out["schedule_after"] = _seconds(a.get("schedule_after")) or 0.0
        return out
    if kind == "change-flow-run-state":
        return {
            "type": kind,
            "state": a.get("state"),
            "name": a.get("name"),
            "message": a.get("message"),
            "force": bool(a.get("force")),
        }
    if kind in ("cancel-flow-run", "suspend-flow-run"):
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
        for key in ("actions", "actions_on_trigger", "actions_on_resolve")
        for a in body.get(key) or []
        if a.get("type") in DEPLOYMENT_ACTIONS and a.get("deployment")
    }
