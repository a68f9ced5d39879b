"""`pipeform import`: which server automations are a deployment's `triggers`, and their spec
form. Pure (on the server JSON the import read).

An automation is written under its Deployment's `triggers` when it is what `prefect deploy`
(or pipeform) makes for a trigger and what the trigger kind observes as one
(deployment_trigger.py): its one action runs one imported deployment (`source: selected`),
nothing runs on trigger or resolve, it carries no tags but pipeform's, its trigger is one the
spec's `triggers` say (event, compound, sequence), its name is a trigger name no other
imported automation or trigger of that deployment has, and no pipeform inventory holds it
as an Automation document (`automation.<name>`: an Automation document with one
run-deployment action has the same shape). Which automations a deployment *owns*
(`owner_resource`) the API does not say (GET /automations/related-to/ mixes owned ones with
those whose action merely runs it), so a hand-made automation of that shape is written as a
trigger too; apply adopts it in place either way. Every other automation stays an
Automation document (automation.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeform.spec.models.common import PREFECT_NAME_PATTERN
from pipeform.spec.models.triggers import DEFAULT_NAME_INFIX, default_trigger_name

from ..inventory import OWNER_TAG_PREFIX, all_owned
from ..normalize import seconds
from .automation_values import imported_trigger
from .common import compact
from .deployment_values import importable_entrypoint

SPEC_TRIGGERS = ("event", "compound", "sequence")  # metric: Prefect Cloud only, refused by the spec


def run_deployment(auto: Mapping[str, Any]) -> str | None:
    """The deployment id a deployment trigger's automation runs, if it is shaped like one
    (one run-deployment action of a selected deployment, nothing on trigger or resolve)."""
    actions = auto.get("actions") or []
    if len(actions) != 1 or auto.get("actions_on_trigger") or auto.get("actions_on_resolve"):
        return None
    a = actions[0]
    if a.get("type") != "run-deployment" or a.get("source", "selected") != "selected":
        return None
    found = a.get("deployment_id")
    return str(found) if found else None


def _expressible(t: Mapping[str, Any]) -> bool:
    kind = t.get("type", "event")
    if kind not in SPEC_TRIGGERS:
        return False
    return all(_expressible(inner) for inner in t.get("triggers") or []) if kind != "event" else True


def _trigger(t: Mapping[str, Any]) -> dict[str, Any]:
    """A server trigger in the spec's form (defaults left out; an event trigger's `type` too)."""
    kind = t.get("type", "event")
    if kind == "event":
        return imported_trigger(t)
    out: dict[str, Any] = {"type": kind}
    if kind == "compound":
        out["require"] = t.get("require")
    if t.get("within"):
        out["within"] = seconds(t["within"])
    out["triggers"] = [_trigger(inner) for inner in t.get("triggers") or []]
    return out


def trigger_spec(auto: Mapping[str, Any], deployment: str, index: int) -> dict[str, Any]:
    """One entry of a Deployment's `triggers` (its name left out when it is Prefect's default
    for that position, `<deployment>__automation_<index + 1>`)."""
    action = auto["actions"][0]
    fields = compact(
        {
            "name": auto["name"],
            "description": auto.get("description") or None,
            "parameters": action.get("parameters"),
            "job_variables": action.get("job_variables"),
            "schedule_after": seconds(action.get("schedule_after")) or None,
        }
    )
    if auto["name"] == default_trigger_name(deployment, index):
        fields.pop("name")
    if auto.get("enabled", True) is False:
        fields["enabled"] = False
    return {**fields, **_trigger(auto.get("trigger") or {})}


def deployment_triggers(server: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """deployment id -> its trigger automations (server JSON, in the order prefect.yaml would
    list them), for the deployments written as Deployment documents (a name the spec refuses:
    the importer names the deployment as skipped, and its triggers stay Automation documents)."""
    named = re.compile(PREFECT_NAME_PATTERN)
    deployments = {
        d["id"]: d["name"]
        for d in server.get("deployments") or []
        if importable_entrypoint(d) and named.match(d["name"])
    }
    autos = server.get("automations") or []
    documents = all_owned(server.get("variables") or [])  # pipeform's Automation documents: `automation.<name>`
    candidates: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for auto in autos:
        dep = run_deployment(auto)
        tags = [t for t in auto.get("tags") or [] if not t.startswith(OWNER_TAG_PREFIX)]
        shaped = not tags and named.match(auto["name"]) and _expressible(auto.get("trigger") or {})
        if dep is not None and dep in deployments and shaped and f"automation.{auto['name']}" not in documents:
            candidates.setdefault(dep, {}).setdefault(auto["name"], []).append(auto)
    chosen = {id(a) for by_name in candidates.values() for same in by_name.values() if len(same) == 1 for a in same}
    others = {a["name"] for a in autos if id(a) not in chosen}  # they stay Automation documents
    out: dict[str, list[dict[str, Any]]] = {}
    for dep, by_name in candidates.items():
        kept = [same[0] for name, same in sorted(by_name.items()) if len(same) == 1 and name not in others]
        if kept:
            out[dep] = _ordered(kept, deployments[dep])
    return out


def _ordered(autos: list[dict[str, Any]], deployment: str) -> list[dict[str, Any]]:
    """Prefect's default names (`<deployment>__automation_<n>`) at position n where they can
    be (so they need no `name`), the named ones in name order in between."""
    prefix = deployment + DEFAULT_NAME_INFIX
    numbered = {}
    for a in autos:
        n = a["name"].removeprefix(prefix)
        if a["name"].startswith(prefix) and n.isdigit() and str(int(n)) == n:
            numbered[int(n)] = a
    rest = [a for a in autos if all(a is not b for b in numbered.values())]
    out: list[dict[str, Any]] = []
    while rest or numbered:
        position = len(out) + 1
        if position in numbered:
            out.append(numbered.pop(position))
        elif rest:
            out.append(rest.pop(0))
        else:  # numbers past a gap: kept with their names
            out.extend(numbered.pop(n) for n in sorted(numbered))
    return out
