"""Checks of Deployment `triggers`: automation names unique in their deployment (the
address is deployment + name) and unlike every Automation document's (on the server, where
automation names are not unique, the two could not be told apart), and metric triggers refused (Prefect Cloud only:
the open-source server answers 422)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from .check_base import ByKind, Invalid, Locate
from .diagnostics import Diagnostic
from .models.triggers import trigger_name

CLOUD_ONLY = (
    "metric triggers are evaluated by Prefect Cloud only: the open-source Prefect server refuses them"
    " (422 'Input should be Posture.Reactive or Posture.Proactive')"
)


def _metric_paths(trigger: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    if trigger.type == "metric":
        yield path
    for j, inner in enumerate(getattr(trigger, "triggers", None) or []):
        yield from _metric_paths(inner, (*path, "triggers", j))


def check_triggers(by_kind: ByKind, locate: Locate) -> Iterator[Diagnostic]:
    autos = {n for n, d in by_kind.get("Automation", {}).items()}
    for dep_name, dep in by_kind.get("Deployment", {}).items():
        if isinstance(dep, Invalid):
            continue
        seen: set[str] = set()
        for i, trigger in enumerate(dep.spec.triggers):
            path = ("spec", "triggers", i)
            for where in _metric_paths(trigger, path):
                yield Diagnostic("trigger.cloud-only", CLOUD_ONLY, locate("Deployment", dep_name, where))
            name = trigger_name(dep_name, i, trigger)
            # Located only for a problem (locating composes the file again).
            at = functools.partial(
                locate, "Deployment", dep_name, (*path, "name") if trigger.name else path, key=not trigger.name
            )
            if name in autos:
                yield Diagnostic(
                    "name.duplicate",
                    f"trigger automation {name!r} has the name of an Automation document",
                    at(),
                    hint="give the trigger its own `name`",
                )
            elif name in seen:
                yield Diagnostic(
                    "name.duplicate",
                    f"two triggers of this deployment make automation {name!r}",
                    at(),
                    hint="give the trigger its own `name`",
                )
            seen.add(name)
