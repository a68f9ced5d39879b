"""The deployment kind's values: its comparable form, the job variables and pull steps the
specs ask for, and a server deployment as a spec (import). Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeform.spec.flow_names import default_name, function_of
from pipeform.spec.models.common import ENTRYPOINT_PATTERN
from pipeform.worker import REPO_ROOT_ENV

from ..inventory import OWNER_TAG_PREFIX
from .common import compact

if TYPE_CHECKING:
    from ..inputs import GitInfo

_ENTRYPOINT = re.compile(ENTRYPOINT_PATTERN)
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
    """The comparable form, from the specs or from the server."""
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


def environment_job_variables(
    spec: Any, overlay: str | None, references: Mapping[str, str]
) -> tuple[dict[str, Any], tuple[str, ...], dict[str, str]]:
    """Job variables of an Environment. A secret env value is never written here: it is a
    Secret block (kinds/block.py) and the variable holds its reference (`references`: env
    key -> `{{ prefect.blocks.secret.NAME }}`, resolved by the worker). Those paths stay
    marked sensitive, so a value written by an older pipeform is masked as it is replaced.
    Requirements, image and resources: pipeform.environments.deploy."""
    env: dict[str, str] = {}
    sensitive: list[str] = []
    sources: dict[str, str] = {}
    for key, value in spec.env.items():
        if isinstance(value, str):
            env[key] = value
        else:
            env[key] = references[key]
            sensitive.append(f"job_variables.env.{key}")
    if overlay:
        env.setdefault("PIPEFORM_ENV", overlay)
    jv: dict[str, Any] = dict(spec.job_variables)
    if env:
        jv["env"] = {**jv.get("env", {}), **env}
    return jv, tuple(sensitive), sources


def _credentials_key(ref: str) -> str:
    """Where git_clone takes the block. A Secret block's template resolves to its value, a
    token string: `access_token` (`credentials` would get a str, which Prefect 3.8.8's
    GitRepository cannot use: `'str' object has no attribute 'items'`). Other blocks
    (github-credentials, ...) resolve to their fields: `credentials`."""
    return "access_token" if ref.startswith("secret.") else "credentials"


def pull_steps(
    root: str, spec: Any, git: GitInfo | None, credentials: str | None = None, image_dir: str | None = None
) -> list[dict[str, Any]]:
    """`pull`, else a git clone from `source.git`, else the source directory, else the
    project's copy inside a pipeform-built image (`image_dir`), else the project folder
    inside its repository (below $PIPEFORM_REPO_ROOT, resolved on the worker), else
    (outside git) the absolute project root."""
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
        if g.credentials_block:  # the block as TYPE.NAME (block_values.block_template)
            ref = credentials or g.credentials_block
            clone[_credentials_key(ref)] = "{{ prefect.blocks." + ref + " }}"
        if g.include_submodules:
            clone["include_submodules"] = True
        steps: list[dict[str, Any]] = [{"prefect.deployments.steps.git_clone": {"id": "clone", **clone}}]
        if g.directory:
            workdir = {"directory": "{{ clone.directory }}/" + g.directory}
            steps.append({"prefect.deployments.steps.set_working_directory": workdir})
        return steps
    if src is not None and src.directory is not None:
        directory = src.directory.path
    elif image_dir is not None:
        directory = image_dir
    elif git is not None:  # resolved on the worker (Prefect templates `{{ $VAR }}` in pull steps)
        directory = "{{ $" + REPO_ROOT_ENV + " }}" + (f"/{git.prefix}" if git.prefix else "")
    else:
        directory = root
    return [{"prefect.deployments.steps.set_working_directory": {"directory": directory}}]


def _imported_schedules(dep: dict[str, Any]) -> list[dict[str, Any]]:
    schedules = []
    for s in dep.get("schedules") or []:
        sched = {k: v for k, v in (s.get("schedule") or {}).items() if v is not None}
        if sched.get("timezone") == "UTC":
            sched.pop("timezone")
        fields = {
            "slug": s.get("slug"),
            **sched,
            "parameters": s.get("parameters") or {},
            "max_scheduled_runs": s.get("max_scheduled_runs"),
        }
        schedules.append(compact(fields) | ({"active": False} if not s.get("active", True) else {}))
    return schedules


def compiled_from_flow(dep: Mapping[str, Any]) -> bool:
    """A deployment pipeform made from a Flow document (its specs are its source)."""
    from pipeform.compiler import LOADER_MODULE  # only on import's path

    return (dep.get("entrypoint") or "").startswith(f"{LOADER_MODULE}:")


def importable_entrypoint(dep: Mapping[str, Any]) -> bool:
    """Whether `pipeform import` can write this server deployment as a Deployment document."""
    return bool(_ENTRYPOINT.match(dep.get("entrypoint") or "")) and not compiled_from_flow(dep)


def imported_spec(dep: dict[str, Any], flow: str, version: str | None) -> dict[str, Any]:
    """A server deployment (made by `prefect deploy` or by hand) as a Deployment spec."""
    entrypoint = dep["entrypoint"]
    pool = None
    if dep.get("work_pool_name"):
        pool = compact(
            {
                "name": dep["work_pool_name"],
                "queue": dep.get("work_queue_name") if dep.get("work_queue_name") != "default" else None,
                "job_variables": dep.get("job_variables") or {},
            }
        )
    gcl = dep.get("global_concurrency_limit") or {}
    options = dep.get("concurrency_options") or {}
    limit: Any = None
    if gcl.get("limit"):
        limit = compact(
            {
                "limit": gcl["limit"],
                "collision_strategy": options.get("collision_strategy"),
                "grace_period_seconds": options.get("grace_period_seconds"),
            }
        )
    spec = {
        "entrypoint": entrypoint,
        "flow_name": flow if flow != default_name(function_of(entrypoint)) else None,
        "work_pool": pool,
        "parameters": dep.get("parameters") or {},
        "schedules": _imported_schedules(dep),
        "concurrency_limit": limit,
        "tags": [t for t in dep.get("tags") or [] if not t.startswith(OWNER_TAG_PREFIX)],
        "description": dep.get("description"),
        "version": version,
        "paused": bool(dep.get("paused")),
        "pull": dep.get("pull_steps") or None,
    }
    out = compact(spec)
    if dep.get("enforce_parameter_schema") is False:
        out["enforce_parameter_schema"] = False
    return out
