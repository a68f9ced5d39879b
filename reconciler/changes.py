"""The values a plan is made of: an action per resource and field-level differences.
Here (not in plan.py) so that the kinds, which write changes, and the planner, which
makes them, share them without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # only where the server forbids an in-place change (work pool type)
    NOOP = "no-op"


@dataclass(frozen=True)
class FieldDiff:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ResourceChange:
    address: str
    kind: str
    name: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diffs: tuple[FieldDiff, ...] = ()
    origin: str | None = None
    server_id: str | None = None
    sensitive: tuple[str, ...] = ()
    reason: str = ""
    parent: str | None = None  # address of the object this one lives in (a schedule's deployment)

    @property
    def changed_fields(self) -> set[str]:
        """Top-level body fields that differ (what an update sends)."""
        return {d.path.split(".")[0] for d in self.diffs}
