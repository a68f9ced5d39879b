"""Plan -> server writes. Takes only the plan. Changes run phase by phase (pools, queues,
limits and variables, deployments, schedules, then deletes in reverse order); inside a
phase they run concurrently, and one failure does not stop the others."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .api import ApiError, ServerAPI, attempts
from .inventory import write_inventory
from .normalize import DEPLOYMENT_ACTIONS, action_deployments
from .plan import ORDER, Action, Plan
from .plan import ResourceChange as Change
from .resources import MASK, scrub, secret_values


@dataclass(frozen=True)
class Outcome:
    """What happened to one change. Errors are values, never raised out of apply."""

    address: str
    action: Action
    ok: bool
    error: str | None = None
    attempts: int = 1  # requests sent for this change, retries included


Progress = Callable[[Outcome], None]


def _fill_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """A saved plan holds masks, never secrets: read them again from this environment."""
    sources = body.get("_secret_sources") or {}
    out = json.loads(json.dumps(body))
    for path, var in sources.items():
        keys = path.split(".")
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = os.environ.get(var, "")
    if MASK in json.dumps(out):
        raise ValueError("this saved plan holds a masked sensitive value that cannot be re-read; run plan again")
    return out


def _secrets_of(change: Change) -> list[str]:
    try:
        return secret_values(_fill_secrets(change.after), change.sensitive) if change.after else []
    except ValueError:
        return []


class _Applier:
    def __init__(self, api: ServerAPI, plan: Plan):
        self.api = api
        self.plan = plan
        self.deployment_ids: dict[str, str] = {
            c.name: c.server_id for c in plan.changes if c.kind == "deployment" and c.server_id
        }
        self._flows: dict[str, asyncio.Future[str]] = {}

    async def run(self, change: Change) -> Outcome:
        sent = [0]
        attempts.set(sent)  # run() is its own task (gather), so this counter is this change's
        try:
            await getattr(self, f"_{change.kind}")(change)
            return Outcome(change.address, change.action, True, attempts=sent[0])
        except (ApiError, ValueError, KeyError) as exc:
            # the server may echo the request body (a 422 does): never let a secret through
            secrets = _secrets_of(change)
            if isinstance(exc, ApiError):
                error = exc.scrubbed(secrets)
            else:
                error = scrub(f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc), secrets)
            return Outcome(change.address, change.action, False, error, sent[0])

    async def _work_pool(self, c: Change) -> None:
        b = _fill_secrets(c.after) if c.after else None
        if c.action is Action.DELETE or c.action is Action.REPLACE:
            await self.api.request("DELETE", f"/work_pools/{c.name}", ok=(404,))
            if c.action is Action.DELETE:
                return
        if c.action in (Action.CREATE, Action.REPLACE):
            template = await self._job_template(b["type"], b.get("base_job_template") or {})
            await self.api.request(
                "POST",
                "/work_pools/",
                {
                    "name": c.name,
                    "type": b["type"],
                    "description": b["description"],
                    "is_paused": b["is_paused"],
                    "concurrency_limit": b["concurrency_limit"],
                    "base_job_template": template,
                },
            )
        else:
            fields = {d.path.split(".")[0] for d in c.diffs}
            patch = {k: b[k] for k in ("description", "is_paused", "concurrency_limit") if k in fields}
            if "base_job_template" in fields:
                current = (await self.api.request("GET", f"/work_pools/{c.name}"))["base_job_template"]
                patch["base_job_template"] = _deep_merge(current, b["base_job_template"])
            await self.api.request("PATCH", f"/work_pools/{c.name}", patch)

    async def _job_template(self, pool_type: str, overrides: dict[str, Any]) -> dict[str, Any]:
        base: dict[str, Any] = {}
        try:
            meta = await self.api.request("GET", "/collections/views/aggregate-worker-metadata", ok=(404,))
        except ApiError:
            meta = None
        for collection in (meta or {}).values():
            for worker in collection.values() if isinstance(collection, dict) else ():
                if isinstance(worker, dict) and worker.get("type") == pool_type:
                    base = worker.get("default_base_job_configuration") or {}
        if not base and pool_type == "process":
            from prefect.workers.process import ProcessWorker  # the default template ships with Prefect

            base = ProcessWorker.get_default_base_job_template()
        return _deep_merge(base, overrides)

    async def _work_queue(self, c: Change) -> None:
        pool, queue = c.name.split("/", 1)
        if c.action is Action.DELETE:
            await self.api.request("DELETE", f"/work_pools/{pool}/queues/{queue}", ok=(404,))
            return
        b = c.after
        body = {
            "description": b["description"],
            "is_paused": b["is_paused"],
            "concurrency_limit": b["concurrency_limit"],
            "priority": b["priority"],
        }
        if c.action is Action.CREATE:
            await self.api.request(
                "POST",
                f"/work_pools/{pool}/queues",
                {"name": queue, **{k: v for k, v in body.items() if v is not None}},
            )
        else:
            await self.api.request("PATCH", f"/work_pools/{pool}/queues/{queue}", body)

    async def _global_limit(self, c: Change) -> None:
        if c.action is Action.DELETE:
            await self.api.request("DELETE", f"/v2/concurrency_limits/{c.name}", ok=(404,))
        elif c.action is Action.CREATE:
            await self.api.request("POST", "/v2/concurrency_limits/", {"name": c.name, **c.after})
        else:
            await self.api.request("PATCH", f"/v2/concurrency_limits/{c.name}", c.after)

    async def _tag_limit(self, c: Change) -> None:
        if c.action is Action.DELETE:
            await self.api.request("DELETE", f"/concurrency_limits/tag/{c.name}", ok=(404,))
        else:  # the server upserts by tag
            await self.api.request("POST", "/concurrency_limits/", {"tag": c.name, **c.after})

    async def _variable(self, c: Change) -> None:
        if c.action is Action.DELETE:
            await self.api.request("DELETE", f"/variables/name/{c.name}", ok=(404,))
            return
        b = _fill_secrets(c.after)
        if c.action is Action.CREATE:
            await self.api.request("POST", "/variables/", {"name": c.name, "value": b["value"], "tags": b["tags"]})
        else:
            await self.api.request("PATCH", f"/variables/name/{c.name}", {"value": b["value"], "tags": b["tags"]})

    async def _deployment(self, c: Change) -> None:
        if c.action is Action.DELETE:
            await self.api.request("DELETE", f"/deployments/{c.server_id}", ok=(404,))
            return
        b = _fill_secrets(c.after)
        fields = {
            "entrypoint": b["entrypoint"],
            "work_pool_name": b["work_pool_name"],
            "work_queue_name": b["work_queue_name"],
            "parameters": b["parameters"],
            "job_variables": b["job_variables"],
            "tags": b["tags"],
            "description": b["description"],
            "version": b.get("version_full") or b["version"],
            "paused": b["paused"],
            "enforce_parameter_schema": b["enforce_parameter_schema"],
            "pull_steps": b["pull_steps"],
            "parameter_openapi_schema": b["parameter_openapi_schema"],
            "concurrency_limit": b["concurrency_limit"],
            "concurrency_options": {
                "collision_strategy": b["collision_strategy"],
                "grace_period_seconds": b.get("grace_period_seconds"),
            }
            if b["concurrency_limit"]
            else None,
        }
        if c.action is Action.CREATE:
            flow_id = await self._flow_id(b["flow_name"])
            name = c.name.split("/", 1)[1]
            # Unset rather than null: a null concurrency limit still makes the server run its
            # limit bookkeeping (about 20% of a create's time, measured).
            body = {"name": name, "flow_id": flow_id, **{k: v for k, v in fields.items() if v is not None}}
            created = await self.api.request("POST", "/deployments/", body)
            self.deployment_ids[c.name] = created["id"]
        else:
            # Only the fields that differ: every update deletes the deployment's future
            # scheduled runs, so nothing is sent that did not change.
            changed = {d.path.split(".")[0] for d in c.diffs}
            if changed & {"collision_strategy", "grace_period_seconds"}:
                changed.add("concurrency_options")
            patch = {k: v for k, v in fields.items() if k in changed}
            if "version" in changed or patch:
                patch["version"] = fields["version"]
            await self.api.request("PATCH", f"/deployments/{c.server_id}", patch)

    async def _flow_id(self, name: str) -> str:
        """POST /flows/ (an upsert by name) once per flow, however many deployments share it."""
        if name not in self._flows:
            self._flows[name] = asyncio.ensure_future(self.api.request("POST", "/flows/", {"name": name}))
        return (await asyncio.shield(self._flows[name]))["id"]

    async def _schedule(self, c: Change) -> None:
        dep = c.name.rsplit("/", 1)[0]
        dep_id = self.deployment_ids.get(dep)
        if c.action is Action.DELETE:
            if dep_id:
                await self.api.request("DELETE", f"/deployments/{dep_id}/schedules/{c.server_id}", ok=(404,))
            return
        if not dep_id:
            raise ValueError(f"deployment {dep} was not created, so its schedule cannot be")
        body = _schedule_body(c)
        if c.action is Action.CREATE:
            await self.api.request("POST", f"/deployments/{dep_id}/schedules", [body])
        else:  # in place: same schedule ID, so run idempotency keys and history stay
            changed = {d.path.split(".")[0] for d in c.diffs}
            await self.api.request(
                "PATCH",
                f"/deployments/{dep_id}/schedules/{c.server_id}",
                {k: v for k, v in body.items() if k in changed or k == "slug"},
            )

    async def _automation(self, c: Change) -> None:
        if c.action is Action.DELETE:
            await self.api.request("DELETE", f"/automations/{c.server_id}", ok=(404,))
            return
        b = c.after
        ids = dict(
            zip(
                sorted(action_deployments(b)),
                await asyncio.gather(*(self._deployment_id(d) for d in sorted(action_deployments(b)))),
                strict=True,
            )
        )
        body = {
            "name": c.name,
            "description": b["description"],
            "enabled": b["enabled"],
            "tags": b["tags"],
            "trigger": b["trigger"],
            **{
                k: [_server_action(a, ids) for a in b[k]]
                for k in ("actions", "actions_on_trigger", "actions_on_resolve")
            },
        }
        if c.action is Action.CREATE:
            await self.api.request("POST", "/automations/", body)
        else:  # PUT replaces the automation's fields in place: same id, so its history stays
            await self.api.request("PUT", f"/automations/{c.server_id}", body)

    async def _deployment_id(self, address: str) -> str:
        """A deployment's id: created or seen by this plan, else read by FLOW/NAME."""
        if address in self.deployment_ids:
            return self.deployment_ids[address]
        found = await self.api.request("GET", f"/deployments/name/{address}", ok=(404,))
        if not found:
            raise ValueError(f"deployment {address} does not exist on the server")
        self.deployment_ids[address] = found["id"]
        return found["id"]


def _server_action(a: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """A normalized action (deployment by FLOW/NAME) -> the server's form (by id)."""
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


def _schedule_body(c: Change) -> dict[str, Any]:
    b = c.after
    return {
        "schedule": b["schedule"],
        "active": b["active"],
        "parameters": b["parameters"],
        "max_scheduled_runs": b.get("max_scheduled_runs"),
        "slug": c.name.rsplit("/", 1)[1],
    }


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


async def apply_plan(
    api: ServerAPI, plan: Plan, inventory: frozenset[str], progress: Progress | None = None
) -> tuple[Outcome, ...]:
    """Apply every pending change; returns one Outcome each and updates the inventory."""
    applier = _Applier(api, plan)
    pending = plan.pending
    outcomes: list[Outcome] = []
    phases: dict[tuple[bool, int], list[Change]] = {}
    for c in pending:
        key = (c.action is Action.DELETE, -ORDER[c.kind] if c.action is Action.DELETE else ORDER[c.kind])
        phases.setdefault(key, []).append(c)
    failed_deployments: set[str] = set()
    # Record the intent first: if this process dies half-way, what it created is already
    # owned, so the next apply converges instead of refusing its own objects as foreign.
    intent = set(inventory) | {c.address for c in plan.changes if c.action is not Action.DELETE}
    if intent != set(inventory):
        await write_inventory(api, plan.project, plan.env, intent)

    async def one(c: Change, failed: frozenset[str]) -> Outcome:
        if c.kind == "schedule" and c.name.rsplit("/", 1)[0] in failed:
            o = Outcome(c.address, c.action, False, "its deployment failed")
        elif c.kind == "automation" and c.after and action_deployments(c.after) & failed:
            o = Outcome(c.address, c.action, False, "a deployment it references failed")
        else:
            o = await applier.run(c)
        if progress:
            progress(o)
        return o

    for key in sorted(phases):
        results = await asyncio.gather(*(one(c, frozenset(failed_deployments)) for c in phases[key]))
        failed_deployments |= {
            o.address.removeprefix("deployment.") for o in results if not o.ok and o.address.startswith("deployment.")
        }
        outcomes.extend(results)
    owned = set(intent)
    for o in outcomes:
        if o.ok and o.action is Action.DELETE:
            owned.discard(o.address)  # a failed delete stays owned: the next prune retries it
    if owned != intent:
        await write_inventory(api, plan.project, plan.env, owned)
    return tuple(outcomes)
