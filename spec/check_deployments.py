"""Checks of Deployment documents: the flow, Environment, work pool and queue they name,
their schedules (slugs unique, accepted by Prefect) and the parameter values they give
the flow (known, of the declared type, every required one set)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import check_params
from .check_base import ByKind, Invalid, Locate
from .check_schedules import schedule_error
from .diagnostics import Diagnostic, Origin
from .diagnostics import did_you_mean as hint

At = Callable[..., Origin]  # (*path inside the deployment's spec, key=False) -> Origin


def check_deployment(dep: Any, by_kind: ByKind, locate: Locate) -> Iterator[Diagnostic]:
    name, spec = dep.metadata.name, dep.spec

    def at(*path: Any, key: bool = False) -> Origin:
        return locate("Deployment", name, ("spec", *path), key=key)

    flows = by_kind.get("Flow", {})
    flow = flows.get(spec.flow) if spec.flow else None
    if spec.flow and flow is None:
        yield Diagnostic(
            "ref.unknown-flow", f"deployment uses unknown flow {spec.flow!r}", at("flow"), hint=hint(spec.flow, flows)
        )
    envs = by_kind.get("Environment", {})
    if spec.environment and spec.environment not in envs:
        yield Diagnostic(
            "ref.unknown-environment",
            f"unknown Environment {spec.environment!r}",
            at("environment"),
            hint=hint(spec.environment, envs),
        )
    yield from _check_work_pool(spec.work_pool, by_kind.get("WorkPool", {}), at)
    yield from _check_schedules(spec.schedules, at)
    if flow is not None and not isinstance(flow, Invalid):
        yield from _check_parameters(spec, flow, at)


def _check_work_pool(ref: Any, pools: dict[str, Any], at: At) -> Iterator[Diagnostic]:
    """A pool not declared here must exist on the server; a declared pool's queue must be declared."""
    if not ref:
        return
    if ref.name not in pools:
        yield Diagnostic(
            "ref.unknown-pool",
            f"work pool {ref.name!r} is not declared here; it must already exist on the server",
            at("work_pool", "name"),
            severity="warning",
            hint=hint(ref.name, pools),
        )
        return
    if ref.queue in (None, "default") or isinstance(pools[ref.name], Invalid):
        return
    queues = {q.name for q in pools[ref.name].spec.queues}
    if ref.queue not in queues:
        yield Diagnostic(
            "ref.unknown-queue",
            f"work pool {ref.name!r} declares no queue {ref.queue!r}",
            at("work_pool", "queue"),
            hint=hint(ref.queue, queues),
        )


def _check_schedules(schedules: list[Any], at: At) -> Iterator[Diagnostic]:
    slugs: set[str] = set()
    for i, s in enumerate(schedules):
        if s.slug is not None:
            if s.slug in slugs:
                yield Diagnostic(
                    "name.duplicate", f"schedule slug {s.slug!r} is used twice", at("schedules", i, "slug")
                )
            slugs.add(s.slug)
        error = schedule_error(s.cron, s.interval, s.rrule, s.timezone, s.day_or)
        if error:
            field = "cron" if s.cron is not None else "interval" if s.interval is not None else "rrule"
            if "timezone" in error.lower() and s.timezone:
                field = "timezone"
            yield Diagnostic("schedule.invalid", error, at("schedules", i, field))


def _check_parameters(spec: Any, flow: Any, at: At) -> Iterator[Diagnostic]:
    """The values the deployment and each schedule give the flow's parameters, and the
    required parameters without a value (an error when a schedule would run without it)."""
    params = flow.spec.parameters
    yield from check_params.check_values(
        params, spec.parameters, lambda k, key=False: at("parameters", k, key=key), "the deployment"
    )
    for i, s in enumerate(spec.schedules):
        yield from check_params.check_values(
            params,
            s.parameters,
            lambda k, key=False, _i=i: at("schedules", _i, "parameters", k, key=key),
            f"schedule {i}",
        )
    for pname, p in params.items():
        if not p.required or p.default is not None or pname in spec.parameters:
            continue
        missing = [i for i, s in enumerate(spec.schedules) if pname not in s.parameters]
        if missing or not spec.schedules:
            yield Diagnostic(
                "param.missing-required",
                f"required parameter {pname!r} of flow {flow.metadata.name!r} has no value in the deployment",
                at("parameters"),
                severity="warning" if not spec.schedules else "error",
            )
