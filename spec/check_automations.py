"""Checks of Automation documents: the deployments their actions run or pause."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .check_base import ByKind, Invalid, Locate
from .diagnostics import Diagnostic
from .diagnostics import did_you_mean as hint
from .flow_names import deployment_flow_name


def check_automation(auto: Any, by_kind: ByKind, locate: Locate) -> Iterator[Diagnostic]:
    """Deployment references of actions: a bare name must be a Deployment document; a
    'FLOW/NAME' not declared here must already exist on the server (a warning)."""
    name, spec = auto.metadata.name, auto.spec
    deployments = by_kind.get("Deployment", {})
    addresses = {f"{deployment_flow_name(d.spec)}/{n}" for n, d in deployments.items() if not isinstance(d, Invalid)}
    for field in ("actions", "actions_on_trigger", "actions_on_resolve"):
        for i, action in enumerate(getattr(spec, field)):
            ref = getattr(action, "deployment", None)
            if ref is None:
                continue
            where = locate("Automation", name, ("spec", field, i, "deployment"))
            if "/" not in ref and ref not in deployments:
                yield Diagnostic(
                    "ref.unknown-deployment",
                    f"{ref!r} is not a Deployment document (use 'flow/deployment' for one that only exists on the server)",
                    where,
                    hint=hint(ref, deployments),
                )
            elif "/" in ref and ref not in addresses and not any(isinstance(d, Invalid) for d in deployments.values()):
                yield Diagnostic(
                    "ref.unknown-deployment",
                    f"deployment {ref!r} is not declared here; it must already exist on the server",
                    where,
                    severity="warning",
                    hint=hint(ref, addresses),
                )
