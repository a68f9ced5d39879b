"""The Block kind: a Prefect block document (a Secret, a notification webhook, a storage or
credentials block) of any block type installed here or registered on the server."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .common import DocumentBase, Metadata, Strict

# Prefect's own rules (prefect.types.names): block document names and block type slugs are
# lower-case letters, digits and dashes only.
BLOCK_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$"
BLOCK_SLUG_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$"
BlockName = Annotated[
    str,
    Field(
        pattern=BLOCK_NAME_PATTERN,
        description="Block document name: lower-case letters, digits and '-' (Prefect's rule for block names).",
        examples=["slack-alerts"],
    ),
]


class BlockMetadata(Metadata):
    """Identity of a Block document: its name is the Prefect block document's name."""

    name: BlockName  # narrower than Metadata.name


class BlockSpec(Strict):
    """A block document: its type's slug and its field values."""

    type: str = Field(
        pattern=BLOCK_SLUG_PATTERN,
        description=(
            "Block type slug: secret, local-file-system, remote-file-system, slack-webhook, custom-webhook,"
            " webhook, ... or a collection's (s3-bucket, aws-credentials, gcs-bucket) when installed."
        ),
        examples=["secret", "custom-webhook"],
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Field values, checked against the block type's schema. A value `{from_env: VAR}` is read from"
            " the applying machine's environment; secret fields are masked everywhere."
        ),
        examples=[{"value": {"from_env": "API_TOKEN"}}],
    )


class BlockDocument(DocumentBase):
    """kind: Block"""

    kind: Literal["Block"] = Field(description="Document kind.")
    metadata: BlockMetadata
    spec: BlockSpec


def from_env_name(value: Any) -> str | None:
    """The variable named by a `{from_env: VAR}` value, else None."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("from_env"), str):
        name: str = value["from_env"]
        return name
    return None


def from_env_paths(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The key path of every `{from_env: VAR}` inside `value` (mappings only, as block data nests)."""
    if from_env_name(value):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in from_env_paths(v, (*path, str(k)))]
    return []


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p)


def variable_secret_name(variable: str) -> str:
    """The Secret block a `sensitive: true` Variable is stored as (block names allow only
    lower-case letters, digits and '-')."""
    return _slug(variable)


def env_secret_name(project: str, overlay: str | None, variable: str) -> str:
    """The Secret block pipeform keeps an Environment's `{from_env: VAR}` value in: one per
    project, overlay and variable (two Environments reading the same variable share it)."""
    return _slug(f"pipeform-{project}-{overlay}-{variable}" if overlay else f"pipeform-{project}-{variable}")


LOCAL_PATH_PREFIXES = ("/", ".", "~")  # a result_storage starting so is a local path, else a block


def is_local_path(result_storage: str) -> bool:
    return result_storage.startswith(LOCAL_PATH_PREFIXES)


def local_storage_name(project: str, path: str) -> str:
    """The LocalFileSystem block pipeform keeps for a local `result_storage` path (Prefect
    persists results only through a saved block). The path is kept as written: `~` and a
    relative path are resolved where the run happens (a deployment runs in its project
    folder)."""
    import hashlib

    return _slug(f"pipeform-{project}-results-{hashlib.sha256(path.encode()).hexdigest()[:10]}")
