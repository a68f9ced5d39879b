"""The Project kind: project name, defaults written once, compile-time values and overlays."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .common import DocumentBase, Metadata, Name, Strict
from .options import Defaults


class Overlay(Strict):
    """Values and defaults of one environment (dev, staging, prod)."""

    values: dict[str, Any] = Field(default_factory=dict, description="Overrides of the project's values.")
    defaults: Defaults | None = Field(default=None, description="Overrides of the project's defaults.")


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN, examples=["AWS_REGION"])]


class EnvDeclaration(Strict):
    """An environment variable `<< env.NAME >>` may read (no other is read)."""

    default: str | None = Field(default=None, description="Value when the variable is not set.")
    sensitive: bool = Field(default=False, description="A secret: its value is masked in every diagnostic and plan.")
    description: str | None = Field(default=None, description="What the variable is for.")


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
    env: dict[EnvName, EnvDeclaration] = Field(
        default_factory=dict,
        description=(
            "Environment variables compile-time expressions may read as << env.NAME >>; any other"
            " is undefined (variables named PIPEFORM_VAR_* are readable without a declaration)."
            " Written literally: no expressions here."
        ),
        examples=[{"AWS_REGION": {"default": "us-east-1"}, "API_TOKEN": {"sensitive": True}}],
    )
    overlays: dict[Name, Overlay] = Field(
        default_factory=dict,
        description="Per-environment values, chosen with --env NAME.",
        examples=[{"prod": {"values": {"bucket": "s3://acme"}}}],
    )


class ProjectDocument(DocumentBase):
    """kind: Project (at most one per project)."""

    kind: Literal["Project"] = Field(description="Document kind.")
    metadata: Metadata
    spec: ProjectSpec
