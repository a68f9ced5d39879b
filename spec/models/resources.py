"""Server-side resources: work pools, concurrency limits, variables, environments."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from pydantic import Field, model_validator

from .block import from_env_name
from .common import DocumentBase, Metadata, PrefectMetadata, PrefectName, Strict, Tags, VariableMetadata


class WorkQueue(Strict):
    """A queue inside a work pool."""

    name: PrefectName = Field(description="Queue name.", examples=["critical"])
    description: str | None = Field(default=None, description="What the queue is for.")
    concurrency_limit: int | None = Field(default=None, ge=0, description="Runs at once from this queue.")
    priority: int | None = Field(default=None, ge=1, description="Lower runs first.")
    paused: bool = Field(default=False, description="Stop handing out runs.")


class WorkPoolSpec(Strict):
    """A Prefect work pool."""

    type: str = Field(description="Worker type: process, kubernetes, docker, ...", examples=["process"])
    description: str | None = Field(default=None, description="What the pool is for.")
    base_job_template: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides merged over the worker type's default job template (variables.properties.X.default, ...).",
    )
    concurrency_limit: int | None = Field(default=None, ge=0, description="Runs at once in the pool.")
    paused: bool = Field(default=False, description="Stop handing out runs.")
    queues: list[WorkQueue] = Field(default_factory=list, description="Work queues besides 'default'.")


class WorkPoolDocument(DocumentBase):
    """kind: WorkPool"""

    kind: Literal["WorkPool"] = Field(description="Document kind.")
    metadata: PrefectMetadata
    spec: WorkPoolSpec


class ConcurrencyLimitSpec(Strict):
    """A named global concurrency limit, or (with `tag`) a task-run tag limit."""

    limit: int = Field(ge=0, description="Slots.", examples=[5])
    slot_decay_per_second: float | None = Field(
        default=None, ge=0, description="Turns the limit into a rate limit: slots freed per second."
    )
    active: bool = Field(default=True, description="Inactive limits do not block.")
    tag: str | None = Field(
        default=None, description="Make this a tag-based limit on task runs carrying this tag.", examples=["warehouse"]
    )

    @model_validator(mode="after")
    def _tag_limit_fields(self) -> ConcurrencyLimitSpec:
        # A tag limit (Prefect's /concurrency_limits/, tag and limit only) has no decay and
        # cannot be switched off: refused rather than dropped.
        if self.tag is not None and self.slot_decay_per_second is not None:
            raise ValueError("`slot_decay_per_second` applies to global limits only: a `tag` limit has no decay")
        if self.tag is not None and not self.active:
            raise ValueError("`active: false` applies to global limits only: a `tag` limit is always enforced")
        return self


class ConcurrencyLimitDocument(DocumentBase):
    """kind: ConcurrencyLimit"""

    kind: Literal["ConcurrencyLimit"] = Field(description="Document kind.")
    metadata: PrefectMetadata
    spec: ConcurrencyLimitSpec


class VariableSpec(Strict):
    """A Prefect variable (JSON value, at most 5000 characters)."""

    value: Any = Field(
        description="JSON value; with `sensitive`, also `{from_env: VAR}` (read from the applying machine).",
        examples=["s3://bucket/path"],
    )
    tags: Tags = Field(default_factory=list)
    sensitive: bool = Field(
        default=False,
        description=(
            "A secret: stored as a Secret block of this name (dots and underscores become '-'), never as a"
            " Prefect Variable (those are not encrypted); read it with $[ secrets.NAME ] or $[ variables.NAME ]."
        ),
    )

    @model_validator(mode="after")
    def _from_env_is_secret(self) -> VariableSpec:
        if from_env_name(self.value) and not self.sensitive:
            raise ValueError("a `from_env` value is a secret: set `sensitive: true` (it becomes a Secret block)")
        if self.sensitive and self.tags:
            raise ValueError("a `sensitive` variable is a Secret block, which has no tags: remove `tags`")
        return self


class VariableDocument(DocumentBase):
    """kind: Variable"""

    kind: Literal["Variable"] = Field(description="Document kind.")
    metadata: VariableMetadata
    spec: VariableSpec


class EnvVar(Strict):
    """An environment variable whose value comes from the applying machine's environment (a secret)."""

    from_env: str = Field(description="Name of the variable to read when applying; its value is masked everywhere.")


class Resources(Strict):
    """A compute profile, mapped to each pool type's own job variables (see the README)."""

    cpu: str | None = Field(default=None, description="CPU, Kubernetes notation.", examples=["500m"])
    memory: str | None = Field(default=None, description="Memory, Kubernetes notation.", examples=["1Gi"])
    gpu: int | None = Field(default=None, ge=0, description="GPUs, on pool types that have them.")


# uv's --python-platform values for operating systems a worker runs on (uv pip compile --help).
PythonPlatform = Literal[
    "linux", "macos", "windows",
    "x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin", "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc", "aarch64-pc-windows-msvc", "i686-pc-windows-msvc",
    "x86_64-manylinux2014", "x86_64-manylinux_2_17", "x86_64-manylinux_2_28", "x86_64-manylinux_2_31",
    "x86_64-manylinux_2_34", "x86_64-manylinux_2_36", "x86_64-manylinux_2_39", "x86_64-manylinux_2_40",
    "aarch64-manylinux2014", "aarch64-manylinux_2_17", "aarch64-manylinux_2_28", "aarch64-manylinux_2_31",
    "aarch64-manylinux_2_34", "aarch64-manylinux_2_36", "aarch64-manylinux_2_39", "aarch64-manylinux_2_40",
]  # fmt: skip


class EnvironmentSpec(Strict):
    """A per-flow runtime: locked requirements, image, environment variables, resources."""

    python_requirements: list[str] = Field(
        default_factory=list,
        description="Requirements, resolved with the worker's Prefect into a lock when planning.",
        examples=[["pandas>=2"]],
    )
    requirements_file: str | None = Field(
        default=None,
        description="A requirements.txt, pyproject.toml or uv.lock inside the project folder (a relative path) to lock from.",
        examples=["uv.lock"],
    )
    python: str | None = Field(
        default=None,
        pattern=r"^3\.[0-9]{1,2}$",
        description="Python version (3.X) of the workers this runs on: the lock is resolved for it (default: the planning"
        " machine's); a worker with another Python refuses the run.",
        examples=["3.11"],
    )
    python_platform: PythonPlatform | None = Field(
        default=None,
        description="Platform of the workers this runs on (uv's --python-platform): the lock is resolved for it (default:"
        " the planning machine's); a worker on another OS or architecture refuses the run.",
        examples=["x86_64-unknown-linux-gnu"],
    )
    image: str | None = Field(
        default=None, description="Prebuilt container image for docker/kubernetes pools (else `pipeform build`)."
    )
    registry: str | None = Field(
        default=None,
        description="Registry `pipeform build` pushes this Environment's image to.",
        examples=["ghcr.io/acme"],
    )
    env: dict[str, str | EnvVar] = Field(default_factory=dict, description="Environment variables for the run.")
    resources: Resources | None = Field(default=None, description="CPU, memory and GPU for the run.")
    job_variables: dict[str, Any] = Field(default_factory=dict, description="Further job variables.")

    @model_validator(mode="after")
    def _file_in_project(self) -> EnvironmentSpec:
        # plan reads it (and may print its lines in uv's errors): never a file outside the project
        f = self.requirements_file
        if f is not None and (
            PurePosixPath(f).is_absolute() or PureWindowsPath(f).is_absolute() or ".." in Path(f).parts
        ):
            raise ValueError(f"`requirements_file` {f!r} must be a relative path inside the project folder (no '..')")
        return self


class EnvironmentDocument(DocumentBase):
    """kind: Environment"""

    kind: Literal["Environment"] = Field(description="Document kind.")
    metadata: Metadata
    spec: EnvironmentSpec
