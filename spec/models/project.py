"""The Project kind: project name, defaults written once, compile-time values and overlays."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .common import Metadata, Name, Strict
from .options import Defaults


class Overlay(Strict):
    """Values and defaults of one environment (dev, staging, prod)."""

    values: dict[str, Any] = Field(default_factory=dict, description="Overrides of the project's values.")
    defaults: Defaults | None = Field(default=None, description="Overrides of the project's defaults.")


class ProjectSpec(Strict):
    """Settings for every document of the project."""

    defaults: Defaults = Field(
        default_factory=Defaults, description="Options applied where documents leave them unset."
    )
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Compile-time values, referenced as << values.NAME >>.",
        examples=[{"bucket": "s3://acme-dev"}],
    )
    overlays: dict[Name, Overlay] = Field(
        default_factory=dict,
        description="Per-environment values, chosen with --env NAME.",
        examples=[{"prod": {"values": {"bucket": "s3://acme"}}}],
    )


class ProjectDocument(Strict):
    """kind: Project (at most one per project)."""

    apiVersion: Literal["pipeform/v1"] = Field(description="Spec language version.")
    kind: Literal["Project"] = Field(description="Document kind.")
    metadata: Metadata
    spec: ProjectSpec
