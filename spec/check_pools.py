"""Checks of work pools and of what deployments ask of them, without a server: worker
types Prefect knows, a kubernetes pool's job manifest against the Kubernetes schemas, job
variables (the deployment's, its Environment's, the pool reference's) against the
declared pool's job template, and resources the pool type can honour. A pool that is
not declared here is checked at plan time, against the server's copy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeform.environments import kubernetes, pools, profiles
from pipeform.environments.profiles import pool_problems

from .diagnostics import Diagnostic, Severity
from .diagnostics import did_you_mean as _hint

Locate = Any  # (kind, name, path, key=False) -> Origin


def check_work_pool(doc: Any, locate: Locate) -> Iterator[Diagnostic]:
    name, spec = doc.metadata.name, doc.spec
    known = pools.known_types()
    if known and spec.type not in known:
        yield Diagnostic(
            "work-pool.unknown-type",
            f"unknown worker type {spec.type!r}; Prefect knows {', '.join(known)}",
            locate("WorkPool", name, ("spec", "type")),
            hint=_hint(spec.type, known),
        )
        return
    if spec.type == "kubernetes":
        template = pools.effective_template(spec.type, spec.base_job_template) or {}
        for path, code, message in kubernetes.check_manifest(template):
            severity: Severity = "warning" if code.endswith("unchecked") else "error"
            yield Diagnostic(code, message, locate("WorkPool", name, ("spec", "base_job_template", *path)), severity)


def pool_of(dep_spec: Any, by_kind: dict[str, dict[str, Any]]) -> Any:
    """The WorkPool document a deployment runs on, when declared here and valid."""
    if dep_spec.work_pool is None:
        return None
    doc = by_kind.get("WorkPool", {}).get(dep_spec.work_pool.name)
    return doc if doc is not None and hasattr(doc, "spec") else None


def check_deployment_pool(dep: Any, by_kind: dict[str, dict[str, Any]], locate: Locate) -> Iterator[Diagnostic]:
    spec = dep.spec
    pool = pool_of(spec, by_kind)
    if pool is None or pool.spec.type not in pools.known_types():
        return
    template = pools.effective_template(pool.spec.type, pool.spec.base_job_template) or {}
    env_doc = by_kind.get("Environment", {}).get(spec.environment) if spec.environment else None
    env_doc = env_doc if env_doc is not None and hasattr(env_doc, "spec") else None
    for problem, kind, name, base in pool_problems(pool.spec.type, template, dep.metadata.name, spec, env_doc):
        path, code, message = problem
        where = locate(kind, name, (*base, *path), key=code.endswith("unknown"))
        yield Diagnostic(code, f"{message} (pool {pool.metadata.name!r}, type {pool.spec.type})", where)


def check_environment(doc: Any, locate: Locate) -> Iterator[Diagnostic]:
    res = doc.spec.resources.model_dump() if doc.spec.resources else {}
    for path, code, message in profiles.check_quantities(res):
        yield Diagnostic(code, message, locate("Environment", doc.metadata.name, ("spec", "resources", *path)))
