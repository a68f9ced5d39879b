"""Compute profiles: an Environment's `resources` (cpu, memory, gpu, in Kubernetes
notation) as the job variables each pool type's worker reads. A field the pool type has
no variable for is a problem, never a silent drop; so is a mapped variable the pool's
(possibly customised) template does not have."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .pools import Problem, check_job_variables, variables_schema

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
_FACTOR = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "Ki": 2**10,
    "M": 1e6,
    "Mi": 2**20,
    "G": 1e9,
    "Gi": 2**30,
    "T": 1e12,
    "Ti": 2**40,
}


def quantity(text: str) -> float:
    """A Kubernetes quantity as a number (cpu in cores, memory in bytes); ValueError if malformed."""
    m = _QUANTITY.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 1Gi)")
    return float(m.group(1)) * _FACTOR[m.group(2)]


def _docker_memory(text: str) -> str:
    """Docker's mem_limit: binary units written k/m/g, or bytes."""
    m = _QUANTITY.match(text)
    unit = {"Ki": "k", "Mi": "m", "Gi": "g"}.get(m.group(2) or "") if m else None
    if m and unit and "." not in m.group(1):
        return f"{m.group(1)}{unit}"
    return str(int(quantity(text)))


Convert = Callable[[str], Any]
# pool type -> resource field -> (job variable, conversion). Absent = the type cannot honour it.
MAPPING: dict[str, dict[str, tuple[str, Convert]]] = {
    "process": {},
    "kubernetes": {"cpu": ("cpu_request", str), "memory": ("memory_request", str)},
    "docker": {"memory": ("mem_limit", _docker_memory)},
    # ECS: cpu units (1024 per vCPU) and memory in MiB.
    "ecs": {
        "cpu": ("cpu", lambda v: round(quantity(v) * 1024)),
        "memory": ("memory", lambda v: round(quantity(v) / 2**20)),
    },
    "cloud-run": {"cpu": ("cpu", lambda v: str(round(quantity(v) * 1000)) + "m"), "memory": ("memory", str)},
    "cloud-run-v2": {"cpu": ("cpu", lambda v: str(round(quantity(v) * 1000)) + "m"), "memory": ("memory", str)},
    "azure-container-instance": {
        "cpu": ("cpu", quantity),
        "memory": ("memory", lambda v: round(quantity(v) / 2**30, 2)),  # GB
        "gpu": ("gpu_count", int),
    },
    "vertex-ai": {"gpu": ("accelerator_count", int)},
}


def resource_job_variables(
    pool_type: str | None, resources: Mapping[str, Any], variables: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[Problem]]:
    """(job variables, problems) for `resources` on a pool of `pool_type` whose template
    variables schema is `variables` (None: unknown pool; checked by type only)."""
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    given = {k: v for k, v in resources.items() if v is not None}
    if not given:
        return out, problems
    table = MAPPING.get(pool_type or "")
    props = (variables or {}).get("properties") or {}
    for field, value in given.items():
        target = table.get(field) if table is not None else None
        if target is None:
            what = f"a {pool_type} work pool" if pool_type else "a work pool of unknown type"
            problems.append(
                ((field,), "resources.unsupported", f"{what} cannot set {field}: its jobs have no such setting")
            )
            continue
        name, convert = target
        if variables is not None and name not in props:
            problems.append(
                ((field,), "resources.unsupported", f"the pool's job template has no {name!r} variable for {field}")
            )
            continue
        try:
            out[name] = convert(str(value)) if field != "gpu" else convert(value)
        except (ValueError, TypeError) as exc:
            problems.append(((field,), "resources.invalid", str(exc)))
    return out, problems


def check_quantities(resources: Mapping[str, Any]) -> Iterator[Problem]:
    for field in ("cpu", "memory"):
        value = resources.get(field)
        if value is not None:
            try:
                quantity(str(value))
            except ValueError as exc:
                yield (field,), "resources.invalid", str(exc)


DocPath = tuple[str | int, ...]
# (problem, kind, name, path of the checked value inside that document)
PoolProblem = tuple[Problem, str, str, DocPath]


def pool_problems(
    pool_type: str | None, template: dict[str, Any], dep_name: str, spec: Any, env_doc: Any
) -> Iterator[PoolProblem]:
    """(problem, kind, name, path of the checked value) for a deployment on a pool of
    `pool_type` with this effective template; shared by validate and plan."""
    schema = variables_schema(template)
    sources: list[tuple[str, str, DocPath, dict[str, Any]]] = []
    if env_doc is not None:
        sources.append(("Environment", env_doc.metadata.name, ("spec", "job_variables"), env_doc.spec.job_variables))
    sources.append(("Deployment", dep_name, ("spec", "job_variables"), spec.job_variables))
    if spec.work_pool is not None:
        sources.append(("Deployment", dep_name, ("spec", "work_pool", "job_variables"), spec.work_pool.job_variables))
    for kind, name, base, values in sources:
        for problem in check_job_variables(schema, values):
            yield problem, kind, name, base
    if env_doc is not None:
        res = env_doc.spec.resources.model_dump() if env_doc.spec.resources else {}
        _, problems = resource_job_variables(pool_type, res, schema)
        for problem in problems:
            yield problem, "Environment", env_doc.metadata.name, ("spec", "resources")
        if env_doc.spec.image and "image" not in (schema.get("properties") or {}):
            msg = f"a {pool_type} work pool runs no container image; image cannot take effect"
            yield ((), "environment.image-unsupported", msg), "Environment", env_doc.metadata.name, ("spec", "image")
