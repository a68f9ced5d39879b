"""One prefect.yaml deployment -> one pipeform Deployment spec (its triggers included), as
`prefect deploy` (Prefect 3.8, prefect/cli/deploy/_core.py) reads it: defaults merged,
the legacy `schedule:` key, top-level pull/build/push unless the deployment overrides them,
placeholders resolved where Prefect resolves them at deploy time."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pipeform.spec.load import PathKey
from pipeform.spec.models.common import ENTRYPOINT_PATTERN
from pipeform.spec.models.triggers import trigger_type

from .templates import DROP, Placeholders, translate

KNOWN = {
    "name", "version", "version_type", "tags", "description", "schedule", "schedules", "paused",
    "concurrency_limit", "flow_name", "entrypoint", "parameters", "enforce_parameter_schema",
    "build", "push", "pull", "work_pool", "triggers", "sla", "is_schedule_active",
}  # fmt: skip
SCHEDULE_KEYS = {"cron", "interval", "rrule", "timezone", "anchor_date", "active", "parameters", "slug", "day_or"}
# Prefect 2 schedule keys that Prefect 3 neither stores nor enforces.
PREFECT2_SCHEDULE_KEYS = {"max_active_runs", "catchup"}
POOL_KEYS = {"name", "work_queue_name", "job_variables"}


@dataclass
class Converted:
    spec: dict[str, Any]
    shared_pull: bool = False  # its pull steps are the file's top-level ones


Report = Callable[..., None]  # report(code, message, path, severity="warning", hint=None)


def _plain(value: Any) -> Any:
    """YAML 1.1 timestamps (yaml.safe_load, as Prefect reads the file) back to ISO text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def convert_deployment(
    dep: dict[str, Any], i: int, actions: dict[str, Any], ph: Placeholders, report: Report
) -> Converted | None:
    base = ("deployments", i)
    dep = _plain(dep)
    name = dep.get("name")
    if not isinstance(name, str) or not name.strip():
        report("convert.no-name", "a deployment needs a name (prefect deploy refuses it without one)", base, "error")
        return None
    for key in sorted(set(dep) - KNOWN):
        report(
            "convert.ignored-key", f"{key!r} is not a prefect.yaml deployment field; Prefect ignores it", (*base, key)
        )
    entrypoint = dep.get("entrypoint")
    if not isinstance(entrypoint, str) or not re.match(ENTRYPOINT_PATTERN, entrypoint):
        report(
            "convert.entrypoint",
            f"entrypoint {entrypoint!r} is neither 'path/to/file.py:function' nor a module path 'pkg.module.function'",
            (*base, "entrypoint"),
            "error",
        )
        return None
    spec: dict[str, Any] = {"entrypoint": entrypoint}
    if isinstance(dep.get("flow_name"), str) and dep["flow_name"]:
        spec["flow_name"] = dep["flow_name"]  # checked against the source by the caller
    pool = _work_pool(dep, base, ph, report)
    if pool:
        spec["work_pool"] = pool
    params = translate(dep.get("parameters") or {}, (*base, "parameters"), "deploy", ph)
    if params:
        spec["parameters"] = params
    schedules = _schedules(dep, base, ph, report)
    if schedules:
        spec["schedules"] = schedules
    limit = _concurrency(dep.get("concurrency_limit"), (*base, "concurrency_limit"), report)
    if limit is not None:
        spec["concurrency_limit"] = limit
    _simple_fields(dep, base, spec, ph, report)
    pull = _pull(dep, actions, base, ph, report)
    if pull is not None:
        spec["pull"] = pull
    out = Converted(
        spec,
        shared_pull=pull is not None and not dep.get("pull") and dep.get("pull") != [] and bool(actions.get("pull")),
    )
    triggers = _triggers(dep, base, ph, report)
    if triggers:
        spec["triggers"] = triggers
    if dep.get("sla"):
        report("convert.sla", "deployment SLAs are not carried over (pipeform has no SLA kind yet)", (*base, "sla"))
    return out


def _simple_fields(dep: dict[str, Any], base: PathKey, spec: dict[str, Any], ph: Placeholders, report: Report) -> None:
    tags = dep.get("tags")
    if isinstance(tags, str):
        tags = [tags]
    tags = translate(tags or [], (*base, "tags"), "deploy", ph)
    if tags:
        spec["tags"] = [str(t) for t in tags]
    if dep.get("version_type"):
        report(
            "convert.version-type",
            "version_type is not carried over: pipeform writes the version itself (your `version`, the spec's hash"
            " and the commit SHA) and sends no version_info",
            (*base, "version_type"),
        )
    for key in ("description", "version"):
        value = dep.get(key)
        if value is None or value == "":
            continue
        got = translate(str(value), (*base, key), "deploy", ph)
        if got is not DROP:
            spec[key] = got
    for key in ("paused", "enforce_parameter_schema"):
        if isinstance(dep.get(key), bool):
            spec[key] = dep[key]
    if "is_schedule_active" in dep:
        active = dep["is_schedule_active"]
        report(
            "convert.legacy-key",
            "is_schedule_active is a Prefect 2 key that Prefect 3 ignores"
            + ("; carried over as paused: true" if active is False else "; it changes nothing (schedules are active)"),
            (*base, "is_schedule_active"),
        )
        if active is False:
            spec["paused"] = True


def _work_pool(dep: dict[str, Any], base: PathKey, ph: Placeholders, report: Report) -> dict[str, Any] | None:
    pool = dep.get("work_pool")
    if not isinstance(pool, dict) or not pool.get("name"):
        report(
            "convert.no-work-pool",
            "no work pool: prefect deploy refuses this deployment when not interactive; pipeform creates it without one",
            (*base, "work_pool") if isinstance(pool, dict) else base,
        )
        return None
    for key in sorted(set(pool) - POOL_KEYS):
        report(
            "convert.ignored-key",
            f"work_pool.{key} is not a prefect.yaml field; Prefect ignores it",
            (*base, "work_pool", key),
        )
    out: dict[str, Any] = {"name": translate(str(pool["name"]), (*base, "work_pool", "name"), "deploy", ph)}
    if pool.get("work_queue_name"):
        out["queue"] = translate(str(pool["work_queue_name"]), (*base, "work_pool", "work_queue_name"), "deploy", ph)
    jv = translate(pool.get("job_variables") or {}, (*base, "work_pool", "job_variables"), "job_variables", ph)
    if jv:
        out["job_variables"] = jv
    return out


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(timedelta).validate_python(value).total_seconds()
    except ValidationError:
        return None


def _schedules(dep: dict[str, Any], base: PathKey, ph: Placeholders, report: Report) -> list[dict[str, Any]]:
    legacy, many = dep.get("schedule"), dep.get("schedules")
    if legacy and "schedules" in dep:
        report(
            "convert.schedule", "both 'schedule' and 'schedules' are given; prefect deploy refuses that", base, "error"
        )
        return []
    if isinstance(legacy, dict) and legacy:  # Prefect: a non-empty legacy `schedule:` is the one schedule
        items, key = [legacy], "schedule"
    else:
        items, key = (many if isinstance(many, list) else []), "schedules"
    out = []
    for j, raw in enumerate(items):
        path = (*base, key) if key == "schedule" else (*base, key, j)
        got = _schedule(raw, path, ph, report)
        if got is not None:
            out.append(got)
    return out


def _schedule(raw: Any, path: PathKey, ph: Placeholders, report: Report) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        report("convert.schedule", "a schedule must be a mapping", path, "error")
        return None
    for k in sorted(set(raw) - SCHEDULE_KEYS - {"replaces", "max_scheduled_runs"}):
        why = (
            "a Prefect 2 schedule key that Prefect 3 ignores" if k in PREFECT2_SCHEDULE_KEYS else "not a schedule field"
        )
        if raw[k] is not None:
            report("convert.ignored-key", f"{k!r} is {why}; left out", (*path, k))
    if raw.get("replaces"):
        report(
            "convert.ignored-key",
            "'replaces' renames a schedule once; pipeform matches schedules by slug",
            (*path, "replaces"),
        )
    out: dict[str, Any] = {}
    if raw.get("slug"):
        out["slug"] = str(raw["slug"])
    if raw.get("cron"):
        out["cron"] = str(raw["cron"])
        if raw.get("day_or") is not None:
            out["day_or"] = bool(raw["day_or"])
    elif raw.get("interval"):
        seconds = _seconds(raw["interval"])
        if seconds is None:
            report(
                "convert.schedule",
                f"interval {raw['interval']!r} is not seconds or a duration",
                (*path, "interval"),
                "error",
            )
            return None
        out["interval"] = int(seconds) if seconds.is_integer() else seconds
        if raw.get("anchor_date"):
            out["anchor_date"] = str(raw["anchor_date"])
    elif raw.get("rrule"):
        rrule, tz = raw["rrule"], raw.get("timezone")
        try:  # Prefect accepts an RRuleSchedule as JSON text
            parsed = json.loads(rrule)
            rrule, tz = parsed.get("rrule", rrule), tz or parsed.get("timezone")
        except (ValueError, TypeError, AttributeError):
            pass
        out["rrule"] = str(rrule)
        raw = {**raw, "timezone": tz}
    else:
        report("convert.schedule", "a schedule needs one of cron, interval, rrule", path, "error")
        return None
    if raw.get("timezone"):
        out["timezone"] = str(raw["timezone"])
    if raw.get("active") is False:
        out["active"] = False
    params = translate(raw.get("parameters") or {}, (*path, "parameters"), "deploy", ph)
    if params:
        out["parameters"] = params
    if raw.get("max_scheduled_runs"):
        out["max_scheduled_runs"] = raw["max_scheduled_runs"]
    return out


def _concurrency(value: Any, path: PathKey, report: Report) -> Any:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, dict) and isinstance(value.get("limit"), int):
        out: dict[str, Any] = {"limit": value["limit"]}
        if value.get("collision_strategy"):
            out["collision_strategy"] = str(value["collision_strategy"])
        if value.get("grace_period_seconds") is not None:
            out["grace_period_seconds"] = value["grace_period_seconds"]
        return out
    report("convert.concurrency", f"concurrency_limit {value!r} is not a number or {{limit: N, ...}}", path, "error")
    return None


def _pull(
    dep: dict[str, Any], actions: dict[str, Any], base: PathKey, ph: Placeholders, report: Report
) -> list[dict[str, Any]] | None:
    """The deployment's pull steps as prefect deploy picks them: its own when truthy, else the
    file's; an explicit `pull: []` means none."""
    own = dep.get("pull")
    if isinstance(own, dict) and own:
        own = [own]
    if own:
        steps, path = own, (*base, "pull")
    elif own == [] or (actions.get("pull") == [] and not own):
        return []
    elif actions.get("pull"):
        steps, path = actions["pull"], ("pull",)
    else:
        report(
            "convert.default-pull",
            "no pull steps: prefect deploy would store a set_working_directory step for the folder it runs in; "
            "pipeform sets the project folder the same way (or set `source`)",
            base,
        )
        return None
    for j, step in enumerate(steps):
        if isinstance(step, dict):
            for fn in step:
                if str(fn).startswith("prefect.projects.steps."):
                    report(
                        "convert.deprecated-step",
                        f"{fn} does not exist in Prefect 3 (workers fail to pull); kept as written",
                        (*path, j),
                        hint=f"use {str(fn).replace('prefect.projects.steps.', 'prefect.deployments.steps.')}",
                    )
    pull: list[dict[str, Any]] | None = translate(list(steps), path, "pull", ph)
    return pull


EVENT_KEYS = ("match", "match_related", "after", "expect", "for_each", "posture", "threshold", "within")
COMPOSITE_KEYS = ("require", "within")


def _trigger(trig: Any, path: PathKey, ph: Placeholders, report: Report, keys: set[str]) -> dict[str, Any] | None:
    """The trigger part (event, compound or sequence; nested ones too), or None (reported)."""
    if not isinstance(trig, dict):
        report("convert.trigger", "a trigger must be a mapping", path, "error")
        return None
    kind = trigger_type(trig)
    if kind == "metric":
        report(
            "convert.trigger",
            "metric triggers are evaluated by Prefect Cloud only: the open-source Prefect server refuses them",
            path,
            "error",
        )
        return None
    if kind not in ("event", "compound", "sequence"):
        report("convert.trigger", f"unknown trigger type {kind!r}", (*path, "type"), "error")
        return None
    own = {"type", *(EVENT_KEYS if kind == "event" else ("triggers", *COMPOSITE_KEYS))}
    for k in sorted(set(trig) - own - keys):
        report("convert.ignored-key", f"trigger field {k!r} is not carried over", (*path, k))
    out: dict[str, Any] = {} if kind == "event" else {"type": kind}
    for k in EVENT_KEYS if kind == "event" else COMPOSITE_KEYS:
        if trig.get(k) not in (None, [], {}) and not (kind == "sequence" and k == "require"):
            out[k] = translate(trig[k], (*path, k), "deploy", ph)
    if isinstance(out.get("within"), str | int | float):
        out["within"] = _seconds(out["within"])
    if kind != "event":
        inner = [
            _trigger(t, (*path, "triggers", j), ph, report, set()) for j, t in enumerate(trig.get("triggers") or [])
        ]
        if any(t is None for t in inner):
            return None
        out["triggers"] = inner
    return out


def _triggers(dep: dict[str, Any], base: PathKey, ph: Placeholders, report: Report) -> list[dict[str, Any]]:
    """The deployment's triggers, written on the Deployment as prefect.yaml has them: pipeform
    makes each one's automation owned by the deployment, as prefect deploy does (Prefect's
    default name `<deployment>__automation_<n>` is pipeform's default too)."""
    out = []
    automation_keys = {"name", "description", "enabled", "parameters", "job_variables", "schedule_after"}
    for j, trig in enumerate(dep.get("triggers") or []):
        path = (*base, "triggers", j)
        spec = _trigger(trig, path, ph, report, automation_keys)
        if spec is None:
            continue
        if trig.get("name"):
            spec = {"name": str(translate(trig["name"], (*path, "name"), "deploy", ph)), **spec}
        if trig.get("description"):
            spec["description"] = str(trig["description"])
        enabled = translate(trig.get("enabled", True), (*path, "enabled"), "deploy", ph)
        if enabled is False:
            spec["enabled"] = False
        for k in ("parameters", "job_variables"):  # event templates ({{ event.* }}) stay for Prefect
            if trig.get(k):
                spec[k] = translate(trig[k], (*path, k), "trigger_parameters", ph)
        if trig.get("schedule_after"):
            spec["schedule_after"] = _seconds(trig["schedule_after"])
        out.append(spec)
    return out
