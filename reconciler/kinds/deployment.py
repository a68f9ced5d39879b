"""Deployment documents -> deployments (`deployment.<flow>/<name>`), with their flows.

A Flow document's deployment points at `pipeform.compiler.loader:<flow>` with the
compiler's parameter schema; a Python entrypoint's schema comes with the DesiredInput. Job
variables = the Environment's runtime (pipeform.environments.deploy: the locked venv's
launcher on process pools, the image on container pools, resources), its env
(`PIPEFORM_ENV`), then the deployment's, then its work pool reference's. Version =
`<version>+spec.<hash12>[.env.<lock12>]` (plus `.git.<sha12>[.dirty]`, written but never compared). Updates send
only the changed fields: every PATCH deletes the deployment's future scheduled runs.

Deployments without `source` point below $PIPEFORM_REPO_ROOT, set on the worker, so a new
checkout path on the applying machine (git-sync's `.worktrees/<sha>`, a CI workspace)
never rewrites them."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pipeform.environments.deploy import deployment_runtime
from pipeform.spec.flow_names import deployment_flow_name
from pipeform.spec.models.deployment import ConcurrencySpec

from ..api import ServerAPI
from ..changes import ResourceChange
from ..inventory import owner_tag
from ..resources import Resource, canonical, deep_merge
from .base import ApplyContext, ImportedDoc, Kind, NotImported, ObserveContext, chunks, filtered
from .block_values import block_template, env_references
from .common import origin, secrets_filled
from .deployment_values import (
    compiled_from_flow,
    deployment_body,
    environment_job_variables,
    importable_entrypoint,
    imported_spec,
    pull_steps,
)
from .schedule import SCHEDULE
from .trigger_import import deployment_triggers, trigger_spec

if TYPE_CHECKING:
    from ..inputs import DesiredInput

SPEC_VERSION = "+spec."  # semver build metadata: <version>+spec.<hash12>[.git.<sha12>]


def spec_version(version: str | None, content_hash: str) -> str:
    return f"{version or ''}{SPEC_VERSION}{content_hash}"


def user_version(server_version: str | None) -> str | None:
    """The spec's own version out of a server version pipeform wrote."""
    return (server_version or "").split(SPEC_VERSION, 1)[0] or None


def _deployment_hash(doc: Any) -> str:
    """Content hash of a Deployment without its schedules and triggers: those are their own
    resources, and a version change would rewrite the deployment (dropping its runs)."""
    data = doc.model_dump(mode="json")
    data["spec"].pop("schedules", None)
    data["spec"].pop("triggers", None)
    return hashlib.sha256(canonical(data).encode()).hexdigest()[:12]


def _credentials(project: Any, s: Any) -> str | None:
    git = s.source.git if s.source is not None else None
    return block_template(project, git.credentials_block) if git is not None else None


class DeploymentKind(Kind):
    name = "deployment"
    order = 3
    document = "Deployment"
    import_file = "deployments.yaml"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        for name, doc in inputs.project.deployments.items():
            yield self._desired(inputs, name, doc)

    def _desired(self, inputs: DesiredInput, name: str, doc: Any) -> Resource:
        project, s = inputs.project, doc.spec
        flow_name = deployment_flow_name(s)
        if s.flow:
            from pipeform.compiler import entrypoint_for, parameter_schema  # only for Flow documents (~0.1 s)

            entrypoint, schema = entrypoint_for(s.flow), parameter_schema(project.flows[s.flow])
        else:
            entrypoint, schema = s.entrypoint, inputs.entrypoint_schema(s.entrypoint)
        jv: dict[str, Any] = {}
        sensitive: tuple[str, ...] = ()
        sources: dict[str, str] = {}
        if s.environment:
            env_doc = project.environments[s.environment]
            refs = env_references(project, env_doc.spec)
            jv, sensitive, sources = environment_job_variables(env_doc.spec, project.env, refs)
        elif project.env:
            jv = {"env": {"PIPEFORM_ENV": project.env}}
        # The runtime (pipeform.environments): the locked venv's launcher on process pools,
        # the image on container pools, resources as the pool type's own variables.
        use, runtime_jv, image_dir = deployment_runtime(project, name, inputs.runtimes)
        jv = deep_merge(deep_merge(runtime_jv, jv), s.job_variables)
        if s.work_pool:
            jv = deep_merge(jv, s.work_pool.job_variables)
        limit = (
            ConcurrencySpec(limit=s.concurrency_limit) if isinstance(s.concurrency_limit, int) else s.concurrency_limit
        )
        version = spec_version(s.version, _deployment_hash(doc))
        if use is not None:
            version += f".env.{use.lock.hash[:12]}"  # the locked requirements are part of what runs
        body = deployment_body(
            flow_name=flow_name,
            entrypoint=entrypoint,
            work_pool_name=s.work_pool.name if s.work_pool else None,
            work_queue_name=(s.work_pool.queue if s.work_pool else None) or ("default" if s.work_pool else None),
            parameters=s.parameters,
            job_variables=jv,
            tags=sorted({*s.tags, owner_tag(project.name)}),
            # as prefect deploy: the flow's description (its docstring) when none is given
            description=s.description or doc.metadata.description or s._entrypoint_description,
            version=version,
            paused=s.paused,
            enforce_parameter_schema=s.enforce_parameter_schema,
            pull_steps=pull_steps(project.root, s, inputs.git, _credentials(project, s), image_dir),
            parameter_openapi_schema=schema,
            concurrency_limit=limit.limit if limit else None,
            collision_strategy=limit.collision_strategy if limit else None,
            grace_period_seconds=limit.grace_period_seconds if limit else None,
        )
        if inputs.git:
            body["version_full"] = version + inputs.git.version_suffix  # sent when writing; never compared
        if sources:
            body["_secret_sources"] = sources  # a saved plan reads them again (it holds masks)
        return self.resource(
            f"{flow_name}/{name}", body, origin=origin(project, "Deployment", name), sensitive=sensitive
        )

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        """A deployment comes with all its schedules. A chunk's filter (flow name in ...,
        deployment name in ...) can also match other pairs of those names: only the wanted
        addresses are kept."""
        wanted = {tuple(n.split("/", 1)) for n in names}
        if not wanted:
            return []
        flows, *parts = await asyncio.gather(
            filtered(ctx.api, "/flows/filter", "flows", {f for f, _ in wanted}),
            *(
                ctx.api.all(
                    "/deployments/filter",
                    {
                        "flows": {"name": {"any_": sorted({f for f, _ in c})}},
                        "deployments": {"name": {"any_": sorted({d for _, d in c})}},
                    },
                )
                for c in chunks(wanted)
            ),
        )
        flow_names = {f["id"]: f["name"] for f in flows}
        seen: dict[str, dict[str, Any]] = {}
        for part in parts:
            for dep in part:
                seen.setdefault(dep["id"], dep)  # chunks may overlap in what they match
        out: list[Resource] = []
        for dep in seen.values():
            flow_name = flow_names.get(dep["flow_id"])
            if flow_name is None or (flow_name, dep["name"]) not in wanted:
                continue  # matched the chunk's name filters, but is another flow's deployment
            name = f"{flow_name}/{dep['name']}"
            out.append(self.resource(name, _observed_body(dep, flow_name), server_id=dep["id"]))
            out += [SCHEDULE.observed(name, sched, i) for i, sched in enumerate(dep.get("schedules") or [])]
        return out

    def _fields(self, b: dict[str, Any]) -> dict[str, Any]:
        return {
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

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        b = secrets_filled(c.after)
        flow_id = await ctx.flow_id(b["flow_name"])
        # Unset rather than null: a null concurrency limit still makes the server run its
        # limit bookkeeping (about 20% of a create's time, measured).
        fields = {k: v for k, v in self._fields(b).items() if v is not None}
        body = {"name": c.name.split("/", 1)[1], "flow_id": flow_id, **fields}
        created = await ctx.api.request("POST", "/deployments/", body)
        ctx.deployment_ids[c.address] = created["id"]

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        # Only the fields that differ: every update deletes the deployment's future
        # scheduled runs, so nothing is sent that did not change.
        fields = self._fields(secrets_filled(c.after))
        changed = c.changed_fields
        if changed & {"collision_strategy", "grace_period_seconds"}:
            changed.add("concurrency_options")
        patch = {k: v for k, v in fields.items() if k in changed}
        if "version" in changed or patch:
            patch["version"] = fields["version"]
        await ctx.api.request("PATCH", f"/deployments/{c.server_id}", patch)

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/deployments/{c.server_id}", ok=(404,))

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        return {
            "flows": {f["id"]: f["name"] for f in await api.all("/flows/filter")},
            "deployments": await api.all("/deployments/filter"),
        }

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        """Each deployment as a Deployment document, with its trigger automations as its
        `triggers` (trigger_import.py)."""
        triggers = deployment_triggers(server)
        for dep in server["deployments"]:
            flow = server["flows"].get(dep["flow_id"], "?")
            if compiled_from_flow(dep):
                # Its flow is a Flow document, not a file an import could point at.
                why = f"Deployment {flow}/{dep['name']}: compiled by pipeform from a Flow document; its specs are its source"
                yield NotImported("Deployment", dep["name"], why)
                continue
            if not importable_entrypoint(dep):
                why = f"Deployment {flow}/{dep['name']}: entrypoint {dep.get('entrypoint') or ''!r} is not 'file.py:function'"
                yield NotImported("Deployment", dep["name"], why)
                continue
            spec = imported_spec(dep, flow, user_version(dep.get("version")))
            if dep["id"] in triggers:
                spec["triggers"] = [trigger_spec(a, dep["name"], i) for i, a in enumerate(triggers[dep["id"]])]
            yield ImportedDoc("Deployment", dep["name"], spec)


def _observed_body(dep: dict[str, Any], flow_name: str) -> dict[str, Any]:
    gcl = dep.get("global_concurrency_limit") or {}
    options = dep.get("concurrency_options") or {}
    return deployment_body(
        flow_name=flow_name,
        entrypoint=dep.get("entrypoint"),
        work_pool_name=dep.get("work_pool_name"),
        work_queue_name=dep.get("work_queue_name"),
        parameters=dep.get("parameters"),
        job_variables=dep.get("job_variables"),
        tags=dep.get("tags"),
        description=dep.get("description"),
        version=dep.get("version"),
        paused=bool(dep.get("paused")),
        enforce_parameter_schema=dep.get("enforce_parameter_schema", True),
        pull_steps=dep.get("pull_steps"),
        parameter_openapi_schema=dep.get("parameter_openapi_schema"),
        concurrency_limit=gcl.get("limit") if gcl else dep.get("concurrency_limit"),
        collision_strategy=options.get("collision_strategy"),
        grace_period_seconds=options.get("grace_period_seconds"),
    )


def deployment_address(ref: str) -> str:
    """FLOW/NAME -> the deployment's address."""
    return f"{DEPLOYMENT.name}.{ref}"


DEPLOYMENT = DeploymentKind()
