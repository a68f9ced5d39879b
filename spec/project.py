"""The Project value: every document of a spec tree, validated, with where each came from.

This is what the compiler and the reconciler receive from the spec stage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .diagnostics import Origin
from .models import KINDS
from .models.options import Defaults

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Project:
    name: str
    env: str | None
    documents: tuple[Any, ...]  # pydantic document models, in file order
    values: Mapping[str, Any] = field(default_factory=dict)  # compile-time values, overlay applied
    defaults: Defaults = field(default_factory=Defaults)  # project defaults, overlay applied
    origins: Mapping[tuple[str, str], Origin] = field(default_factory=dict)  # (kind, name) -> document start
    # (kind, name) -> function(path) -> Origin of a key/value inside the document
    locators: Mapping[tuple[str, str], Any] = field(default_factory=dict, compare=False, repr=False)
    root: str = "."  # absolute folder of the Project document (or of the first path): user modules import from here
    # declared sensitive environment variable (spec.env) -> its value, for the set ones: named
    # in messages, never printed
    sensitive_env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def secrets(self) -> frozenset[str]:
        """The values of the declared sensitive variables: masked in every plan and message."""
        return frozenset(self.sensitive_env.values())

    @cached_property
    def _by_kind(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
        for d in self.documents:
            out[d.kind][d.metadata.name] = d
        return out

    def of_kind(self, kind: str) -> dict[str, Any]:
        return self._by_kind[kind]

    @property
    def flows(self) -> dict[str, Any]:
        return self.of_kind("Flow")

    @property
    def deployments(self) -> dict[str, Any]:
        return self.of_kind("Deployment")

    @property
    def work_pools(self) -> dict[str, Any]:
        return self.of_kind("WorkPool")

    @property
    def concurrency_limits(self) -> dict[str, Any]:
        return self.of_kind("ConcurrencyLimit")

    @property
    def variables(self) -> dict[str, Any]:
        return self.of_kind("Variable")

    @property
    def environments(self) -> dict[str, Any]:
        return self.of_kind("Environment")

    @property
    def automations(self) -> dict[str, Any]:
        return self.of_kind("Automation")

    def origin(self, kind: str, name: str, path: Path_ = (), key: bool = False) -> Origin | None:
        """Where a document (or, with `path`, a value inside it such as ("spec", "tasks", 2);
        with key=True, the key naming it) was written."""
        locate = self.locators.get((kind, name))
        if path and locate is not None:
            found = locate(path, key)
            if found is not None:
                origin: Origin = found
                return origin
        return self.origins.get((kind, name))

    def content_hash(self, kind: str, name: str) -> str:
        """sha256 of the document's canonical JSON (after values are applied): a stable spec version."""
        doc = next(d for d in self.documents if d.kind == kind and d.metadata.name == name)
        text = json.dumps(doc.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
