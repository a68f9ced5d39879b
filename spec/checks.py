"""Step 6: semantic checks over validated documents. Pure functions returning Diagnostics,
one module per kind (`check_flows`, `check_deployments`, `check_automations`,
`check_blocks`, `check_pools`, `check_triggers`); this one runs them in order."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from typing import Any

from . import check_blocks
from .check_automations import check_automation
from .check_base import ByKind, Invalid, Locate
from .check_deployments import check_deployment
from .check_flows import check_flow, subflow_cycles
from .check_triggers import check_triggers
from .diagnostics import Diagnostic


def check_all(docs: list[Any], locate: Locate, invalid: AbstractSet[tuple[str, str]] = frozenset()) -> list[Diagnostic]:
    out = list(_duplicates(docs, locate))
    by_kind: ByKind = {}
    for kind, name in invalid:
        by_kind.setdefault(kind, {})[name] = Invalid()
    for d in docs:
        by_kind.setdefault(d.kind, {})[d.metadata.name] = d
    flows = {n: f for n, f in by_kind.get("Flow", {}).items() if not isinstance(f, Invalid)}
    for flow in flows.values():
        out.extend(check_flow(flow, by_kind, locate))
    out.extend(subflow_cycles(flows, locate))
    for dep in by_kind.get("Deployment", {}).values():
        if not isinstance(dep, Invalid):
            out.extend(check_deployment(dep, by_kind, locate))
    for auto in by_kind.get("Automation", {}).values():
        if not isinstance(auto, Invalid):
            out.extend(check_automation(auto, by_kind, locate))
    out.extend(check_blocks.check_blocks(by_kind, locate))
    out.extend(check_blocks.check_block_refs(by_kind, locate))
    out.extend(_pool_checks(by_kind, locate))
    out.extend(check_triggers(by_kind, locate))
    return out


def _pool_checks(by_kind: ByKind, locate: Locate) -> Iterator[Diagnostic]:
    from . import check_pools as cp

    for kind, check in (("WorkPool", cp.check_work_pool), ("Environment", cp.check_environment)):
        for doc in by_kind.get(kind, {}).values():
            if not isinstance(doc, Invalid):
                yield from check(doc, locate)
    for dep in by_kind.get("Deployment", {}).values():
        if not isinstance(dep, Invalid):
            yield from cp.check_deployment_pool(dep, by_kind, locate)


def _duplicates(docs: list[Any], locate: Locate) -> Iterator[Diagnostic]:
    seen: dict[tuple[str, str], Any] = {}
    projects = [d for d in docs if d.kind == "Project"]
    for extra in projects[1:]:
        yield Diagnostic(
            "project.duplicate",
            "a project has at most one Project document",
            locate("Project", extra.metadata.name, ("kind",)),
        )
    for d in docs:
        key = (d.kind, d.metadata.name)
        if key in seen:
            first = locate(d.kind, d.metadata.name, ())
            yield Diagnostic(
                "name.duplicate", f"{d.kind} {d.metadata.name!r} is declared twice (first at {first})", first
            )
        seen[key] = d
