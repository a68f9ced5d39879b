"""Building blocks shared by every kind: the strict base model, names, metadata."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Names become Prefect object names and Python identifiers in emitted code, so keep
# them to a conservative alphabet. Task and parameter names must be identifiers.
NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,98}[a-z0-9])?$"
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
CALLABLE_PATTERN = (
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)
# 'path/to/file.py:function', or a module path as Prefect's import_object takes it:
# 'pkg.module.function' or 'pkg.module:function' (read from the project's own files); after a
# colon an attribute path too, as import_object follows it ('file.py:Class.method').
_OBJECT = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
ENTRYPOINT_PATTERN = (
    rf"^([^:]+\.py:{_OBJECT}"
    rf"|[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:{_OBJECT}|\.[A-Za-z_][A-Za-z0-9_]*))$"
)
# Names of Prefect objects follow Prefect's own rules (prefect.types.names): flows, deployments,
# work pools, global limits and automations take anything but '/', '%', '&', '>', '<' (and not
# blank); variables take lower-case letters, digits, '-' and '_' (at most 255).
PREFECT_NAME_PATTERN = r"^[^/%&<>]*[^/%&<>\s'\"][^/%&<>]*$"
VARIABLE_NAME_PATTERN = r"^[a-z0-9_-]{1,255}$"

Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Lower-case name: letters, digits, '.', '_' and '-', at most 100 characters.",
        examples=["nightly-etl"],
    ),
]
PrefectName = Annotated[
    str,
    Field(
        pattern=PREFECT_NAME_PATTERN,
        description="Name as Prefect accepts it: any characters (spaces and capitals too) except '/', '%', '&', '>', '<'.",
        examples=["Hello World - Helm", "nightly-etl"],
    ),
]
VariableName = Annotated[
    str,
    Field(
        pattern=VARIABLE_NAME_PATTERN,
        description="Prefect variable name: lower-case letters, digits, '-' and '_', at most 255 characters.",
        examples=["warehouse_url"],
    ),
]
Ident = Annotated[
    str,
    Field(
        pattern=IDENT_PATTERN,
        description="A Python identifier (letters, digits and '_', not starting with a digit).",
        examples=["extract"],
    ),
]
Tags = Annotated[
    list[str],
    Field(description="Prefect tags.", examples=[["etl", "team-data"]]),
]
JsonValue = Any


class Strict(BaseModel):
    """Base of every spec model: unknown keys are refused, values are immutable."""

    # defer_build: a model's validator is built when it first validates, so a command
    # pays only for the kinds its documents use (building all of them cost ~0.2 s a run).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class DocumentBase(Strict):
    """Base of every kind's document: `apiVersion` first, then its own `kind`, `metadata`, `spec`."""

    apiVersion: Literal["pipeform/v1"] = Field(description="Spec language version.")


class Metadata(Strict):
    """Identity and bookkeeping of a document, as in Kubernetes."""

    name: Name = Field(
        description="Unique name of the document within its kind: lower-case letters, digits, '.', '_' and '-', at most 100 characters."
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Free-form key/value labels for your own tooling; pipeform never sends them to Prefect.",
        examples=[{"team": "data"}],
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Free-form key/value notes that pipeform never interprets."
    )
    description: str | None = Field(
        default=None,
        description="Human description; sent to Prefect where the object has one (Deployment, WorkPool, Automation:"
        " when `spec.description` is unset; a Flow: its prefect.Flow's), else a note pipeform never interprets.",
    )


class PrefectMetadata(Metadata):
    """Metadata of a kind named like a Prefect object (spaces and capitals allowed)."""

    name: PrefectName = Field(
        description="Unique name within its kind, as Prefect accepts it: any characters (spaces and capitals too) "
        "except '/', '%', '&', '>', '<'."
    )


class VariableMetadata(Metadata):
    """Metadata of a Variable: its name follows Prefect's variable-name rule."""

    name: VariableName = Field(
        description="Prefect variable name: lower-case letters, digits, '-' and '_', at most 255 characters."
    )
