"""Project-wide deployment defaults (`spec.defaults.deployment` of the Project document),
merged under each Deployment's own values before any check runs, so references, plans
and applies all see the merged value: maps merge deeply (work_pool, job_variables), lists
and scalars are replaced (tags, pull, environment), and `source`/`pull` are one choice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from .diagnostics import Diagnostic
from .models.deployment import DeploymentDefaults, DeploymentSpec


def deep_merge(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """`own` over `base`: nested maps merged, anything else (lists too) replaced."""
    out = dict(base)
    for k, v in own.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merged(spec: DeploymentSpec, defaults: DeploymentDefaults) -> dict[str, Any]:
    own = spec.model_dump(exclude_unset=True)
    base = defaults.model_dump(exclude_unset=True)
    out = dict(own)
    if "source" not in own and "pull" not in own:
        out.update({k: base[k] for k in ("source", "pull") if k in base})
    for key in ("work_pool", "job_variables"):
        if key in base:
            out[key] = deep_merge(base[key], own.get(key) or {})
    for key in ("tags", "environment"):
        if key in base and key not in own:
            out[key] = base[key]
    return out


def apply(
    documents: list[Any], defaults: DeploymentDefaults, locate: Callable[..., Any]
) -> tuple[list[Any], list[Diagnostic]]:
    if not defaults.model_fields_set:
        return documents, []
    out, problems = [], []
    for doc in documents:
        if getattr(doc, "kind", None) != "Deployment":
            out.append(doc)
            continue
        try:
            spec = DeploymentSpec.model_validate(merged(doc.spec, defaults))
        except ValidationError as exc:
            where = locate("Deployment", doc.metadata.name, ("spec",))
            for err in exc.errors():
                problems.append(
                    Diagnostic(
                        "model.invalid",
                        f"with the Project's deployment defaults: {err['msg'].removeprefix('Value error, ')}",
                        where,
                    )
                )
            continue
        out.append(doc.model_copy(update={"spec": spec}))
    return out, problems
