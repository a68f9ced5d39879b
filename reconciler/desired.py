"""Project -> desired Resources (no server; Prefect is imported only to compute a Python
flow's parameter schema that is not cached yet)."""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from pipeform import diskcache
from pipeform.compiler import entrypoint_for, parameter_schema
from pipeform.spec.checks import deployment_flow_name
from pipeform.spec.models.deployment import ConcurrencySpec
from pipeform.spec.project import Project
from pipeform.worker import REPO_ROOT_ENV

from .inventory import owner_tag
from .normalize import automation_action, automation_body, deployment_body, schedule_body
from .resources import Resource, canonical

# Deployments without `source` point below $PIPEFORM_REPO_ROOT, set on the worker, so a new
# checkout path on the applying machine (git-sync's `.worktrees/<sha>`, a CI workspace)
# never rewrites them.


@dataclass(frozen=True)
class GitInfo:
    sha: str
    prefix: str  # the project folder relative to the repository root ("" at the root)
    dirty: bool  # uncommitted or untracked files under the project folder


def git_info(root: str) -> GitInfo | None:
    """HEAD, the project's place in its repository and whether its files differ from HEAD;
    None outside a git repository."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    head = git("rev-parse", "HEAD", "--show-prefix")
    if head is None:
        return None
    sha, _, prefix = head.partition("\n")
    status = git("status", "--porcelain", "--", ".")
    return GitInfo(sha.strip(), prefix.strip().rstrip("/"), status is None or bool(status.strip()))


def version_suffix(info: GitInfo | None) -> str:
    """`.git.<sha12>` (plus `.dirty` when the files differ from that commit)."""
    if info is None:
        return ""
    return f".git.{info.sha[:12]}" + (".dirty" if info.dirty else "")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _environment_job_variables(
    env_doc: Any, overlay: str | None
) -> tuple[dict[str, Any], tuple[str, ...], dict[str, str]]:
    """Job variables of an Environment; secret env values are read from this machine's
    environment and reported as sensitive paths with their source variable."""
    spec = env_doc.spec
    env: dict[str, str] = {}
    sensitive: list[str] = []
    sources: dict[str, str] = {}
    for key, value in spec.env.items():
        if isinstance(value, str):
            env[key] = value
        else:
            env[key] = os.environ.get(value.from_env, "")
            sensitive.append(f"job_variables.env.{key}")
            sources[f"job_variables.env.{key}"] = value.from_env
    if spec.python_requirements:
        env["EXTRA_PIP_PACKAGES"] = " ".join(spec.python_requirements)
    if overlay:
        env.setdefault("PIPEFORM_ENV", overlay)
    jv: dict[str, Any] = dict(spec.job_variables)
    if env:
        jv["env"] = {**jv.get("env", {}), **env}
    if spec.image:
        jv["image"] = spec.image
    if spec.cpu:
        jv["cpu"] = spec.cpu
    if spec.memory:
        jv["memory"] = spec.memory
    return jv, tuple(sensitive), sources


def _pull_steps(project: Project, spec: Any, git: GitInfo | None) -> list[dict[str, Any]]:
    if spec.pull is not None:
        return [dict(s) for s in spec.pull]
    src = spec.source
    if src is not None and src.git is not None:
        g = src.git
        clone: dict[str, Any] = {"repository": g.repository}
        if g.branch:
            clone["branch"] = g.branch
        if g.commit_sha:
            clone["commit_sha"] = g.commit_sha
        if g.credentials_block:
            clone["credentials"] = "{{ prefect.blocks." + g.credentials_block + " }}"
        if g.include_submodules:
            clone["include_submodules"] = True
        steps: list[dict[str, Any]] = [{"prefect.deployments.steps.git_clone": {"id": "clone", **clone}}]
        if g.directory:
            steps.append(
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": "{{ clone.directory }}/" + g.directory
                    }
                }
            )
        return steps
    if src is not None and src.directory is not None:
        directory = src.directory.path
    elif git is not None:  # resolved on the worker (Prefect templates `{{ $VAR }}` in pull steps)
        directory = "{{ $" + REPO_ROOT_ENV + " }}" + (f"/{git.prefix}" if git.prefix else "")
    else:
        directory = project.root
    return [{"prefect.deployments.steps.set_working_directory": {"directory": directory}}]


def desired_state(project: Project) -> list[Resource]:
    out: list[Resource] = []

    def origin(kind: str, name: str) -> str | None:
        o = project.origin(kind, name)
        return str(o) if o else None

    for name, doc in project.work_pools.items():
        s = doc.spec
        out.append(
            Resource(
                f"work_pool.{name}",
                "work_pool",
                name,
                {
                    "type": s.type,
                    "description": s.description,
                    "concurrency_limit": s.concurrency_limit,
                    "is_paused": s.paused,
                    "base_job_template": s.base_job_template,
                },
                origin("WorkPool", name),
            )
        )
        for q in s.queues:
            out.append(
                Resource(
                    f"work_queue.{name}/{q.name}",
                    "work_queue",
                    f"{name}/{q.name}",
                    {
                        "description": q.description or "",
                        "concurrency_limit": q.concurrency_limit,
                        "priority": q.priority,
                        "is_paused": q.paused,
                    },
                    origin("WorkPool", name),
                )
            )
    for name, doc in project.concurrency_limits.items():
        s = doc.spec
        if s.tag:
            out.append(
                Resource(
                    f"tag_limit.{s.tag}",
                    "tag_limit",
                    s.tag,
                    {"concurrency_limit": s.limit},
                    origin("ConcurrencyLimit", name),
                )
            )
        else:
            body = {"limit": s.limit, "active": s.active, "slot_decay_per_second": s.slot_decay_per_second or 0.0}
            out.append(Resource(f"global_limit.{name}", "global_limit", name, body, origin("ConcurrencyLimit", name)))
    tag = owner_tag(project.name)
    for name, doc in project.variables.items():
        s = doc.spec
        out.append(
            Resource(
                f"variable.{name}",
                "variable",
                name,
                {"value": s.value, "tags": sorted({*s.tags, tag})},
                origin("Variable", name),
                ("value",) if s.sensitive else (),
            )
        )
    git = git_info(project.root)
    for name, doc in project.deployments.items():
        s = doc.spec
        flow_name = deployment_flow_name(s)
        if s.flow:
            flow_doc = project.flows[s.flow]
            entrypoint, schema = entrypoint_for(s.flow), parameter_schema(flow_doc)
        else:
            entrypoint, schema = s.entrypoint, _entrypoint_schema(project.root, s.entrypoint)
        jv: dict[str, Any] = {}
        sensitive: tuple[str, ...] = ()
        sources: dict[str, str] = {}
        if s.environment:
            jv, sensitive, sources = _environment_job_variables(project.environments[s.environment], project.env)
        elif project.env:
            jv = {"env": {"PIPEFORM_ENV": project.env}}
        jv = _merge(jv, s.job_variables)
        if s.work_pool:
            jv = _merge(jv, s.work_pool.job_variables)
        limit = (
            ConcurrencySpec(limit=s.concurrency_limit) if isinstance(s.concurrency_limit, int) else s.concurrency_limit
        )
        version = f"{s.version or ''}+spec.{_deployment_hash(doc)}"  # semver build metadata
        body = deployment_body(
            flow_name=flow_name,
            entrypoint=entrypoint,
            work_pool_name=s.work_pool.name if s.work_pool else None,
            work_queue_name=(s.work_pool.queue if s.work_pool else None) or ("default" if s.work_pool else None),
            parameters=s.parameters,
            job_variables=jv,
            tags=sorted({*s.tags, tag}),
            description=s.description or doc.metadata.description,
            version=version,
            paused=s.paused,
            enforce_parameter_schema=s.enforce_parameter_schema,
            pull_steps=_pull_steps(project, s, git),
            parameter_openapi_schema=schema,
            concurrency_limit=limit.limit if limit else None,
            collision_strategy=limit.collision_strategy if limit else None,
            grace_period_seconds=limit.grace_period_seconds if limit else None,
        )
        if git:
            body["version_full"] = version + version_suffix(git)  # sent when writing; never compared
        dep_address = f"{flow_name}/{name}"
        out.append(
            Resource(
                f"deployment.{dep_address}", "deployment", dep_address, body, origin("Deployment", name), sensitive
            )
        )
        if sources:
            out[-1].body["_secret_sources"] = sources
        for i, sch in enumerate(s.schedules):
            slug = sch.slug or f"schedule-{i}"
            out.append(
                Resource(
                    f"schedule.{dep_address}/{slug}",
                    "schedule",
                    f"{dep_address}/{slug}",
                    schedule_body(sch.model_dump(), slug),
                    origin("Deployment", name),
                )
            )
    for name, doc in project.automations.items():
        s = doc.spec

        def actions(items: list[Any]) -> list[dict[str, Any]]:
            return [
                automation_action(a.model_dump(), _deployment_address(project, getattr(a, "deployment", None)))
                for a in items
            ]

        body = automation_body(
            description=s.description or doc.metadata.description,
            enabled=s.enabled,
            tags=[*s.tags, tag],
            trigger={"type": "event", **s.trigger.model_dump()},
            actions=actions(s.actions),
            actions_on_trigger=actions(s.actions_on_trigger),
            actions_on_resolve=actions(s.actions_on_resolve),
        )
        out.append(Resource(f"automation.{name}", "automation", name, body, origin("Automation", name)))
    return out


def _deployment_address(project: Project, ref: str | None) -> str | None:
    """An automation's deployment reference as FLOW/NAME (a bare name is a Deployment document)."""
    if ref is None or "/" in ref:
        return ref
    return f"{deployment_flow_name(project.deployments[ref].spec)}/{ref}"


def _deployment_hash(doc: Any) -> str:
    """Content hash of a Deployment without its schedules: schedules are their own
    resources, and a version change would rewrite the deployment (dropping its runs)."""
    data = doc.model_dump(mode="json")
    data["spec"].pop("schedules", None)
    return hashlib.sha256(canonical(data).encode()).hexdigest()[:12]


_schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
# Where a signature's names may come from for its schema to depend on nothing but the file
# (and these packages' versions, part of the disk cache key).
_FIXED_MODULES = frozenset(sys.stdlib_module_names) | {"prefect", "pydantic", "typing_extensions"}


def _entrypoint_schema(root: str, entrypoint: str) -> dict[str, Any]:
    """Parameter schema of an existing Python flow, read from source without importing it
    (Prefect's parameter_schema_from_entrypoint, the schema `prefect deploy` sends).
    Computed once per file content and function, however many deployments use it; and kept
    on disk (pipeform.diskcache) when the function's signature names only builtins, the
    standard library, prefect or pydantic, so that a later run needs neither the computation
    nor Prefect's import (about 1 s)."""
    path, func = entrypoint.rsplit(":", 1)
    full = path if os.path.isabs(path) else os.path.join(root, path)
    with open(full, "rb") as f:
        source = f.read()
    key = (full, func, hashlib.sha256(source).hexdigest())
    if key not in _schemas:
        disk = (key[2], func, diskcache.versions("prefect", "pydantic"), sys.version)
        fixed = _self_contained(source, func)
        cached = diskcache.get("schemas", disk) if fixed else None
        if not isinstance(cached, dict):
            from prefect.utilities.callables import parameter_schema_from_entrypoint

            cached = parameter_schema_from_entrypoint(f"{full}:{func}").model_dump(mode="json")
            if fixed:
                diskcache.put("schemas", disk, cached)
        _schemas[key] = cached
    return json.loads(json.dumps(_schemas[key]))  # a copy: bodies are compared and written, never shared


def _self_contained(source: bytes, func: str) -> bool:
    """Whether the schema of `func` depends only on this file: every name in its annotations
    is a builtin or imported (at top level, as Prefect's loader sees it) from the standard
    library, prefect or pydantic, and every default is a literal. Anything else (a class
    defined here or in a local module, a string annotation, `import *`, a computed default)
    is not cached on disk."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    fixed: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            fixed |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] in _FIXED_MODULES}
        elif isinstance(node, ast.ImportFrom):
            if any(a.name == "*" for a in node.names):
                return False
            if node.level == 0 and (node.module or "").split(".")[0] in _FIXED_MODULES:
                fixed |= {a.asname or a.name for a in node.names}
    fn = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == func), None
    )
    if fn is None:
        return False
    a = fn.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
    annotations = [p.annotation for p in params if p.annotation is not None]
    values = [*a.defaults, *(d for d in a.kw_defaults if d is not None)]
    for node in (n for root in annotations for n in ast.walk(root)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return False  # a forward reference, resolved against who knows what
    for node in (n for root in annotations for n in ast.walk(root)):
        if isinstance(node, ast.Name) and node.id not in fixed and not hasattr(builtins, node.id):
            return False
    try:
        for value in values:
            ast.literal_eval(value)  # a default computed at load time (os.environ[...]) may vary
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True
