"""The Deployment kind: every field of prefect.yaml's deployment model, plus references."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from .common import ENTRYPOINT_PATTERN, DocumentBase, Name, PrefectMetadata, PrefectName, Strict, Tags
from .triggers import DeploymentTrigger


class Schedule(Strict):
    """One schedule of a deployment. Exactly one of cron, interval, rrule."""

    slug: PrefectName | None = Field(
        default=None,
        description="Stable key of the schedule; pipeform updates schedules in place by slug. Defaults to its position.",
        examples=["nightly"],
    )
    cron: str | None = Field(default=None, description="Cron expression.", examples=["0 3 * * *"])
    interval: float | None = Field(default=None, gt=0, description="Interval in seconds.", examples=[3600])
    rrule: str | None = Field(default=None, description="iCalendar RRULE.", examples=["FREQ=WEEKLY;BYDAY=MO"])
    timezone: str | None = Field(default=None, description="IANA time zone.", examples=["Europe/Berlin"])
    anchor_date: str | None = Field(default=None, description="Start of an interval schedule (ISO 8601).")
    day_or: bool | None = Field(default=None, description="Cron: combine day-of-month and day-of-week with OR.")
    active: bool = Field(default=True, description="Whether the schedule creates runs.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Parameters for runs of this schedule.")
    max_scheduled_runs: int | None = Field(default=None, ge=1, description="Upper bound of future runs kept.")

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if sum(v is not None for v in (self.cron, self.interval, self.rrule)) != 1:
            raise ValueError("a schedule needs exactly one of: cron, interval, rrule")
        # Prefect's cron and rrule schedules have no anchor date and only cron has day_or:
        # refused rather than dropped on the way to the server.
        if self.anchor_date is not None and self.interval is None:
            raise ValueError("`anchor_date` applies to interval schedules only (an rrule takes DTSTART)")
        if self.day_or is not None and self.cron is None:
            raise ValueError("`day_or` applies to cron schedules only")
        if self.anchor_date is not None and not _is_iso_instant(self.anchor_date):
            raise ValueError(f"`anchor_date` {self.anchor_date!r} is not an ISO 8601 date-time (2026-01-01T00:00:00Z)")
        return self


def _is_iso_instant(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


class ConcurrencySpec(Strict):
    """Deployment-level concurrency limit."""

    limit: int = Field(ge=1, description="Runs of this deployment at once.", examples=[1])
    collision_strategy: Literal["ENQUEUE", "CANCEL_NEW"] = Field(
        default="ENQUEUE", description="What happens to a run over the limit."
    )
    grace_period_seconds: int | None = Field(default=None, ge=60, le=86400, description="Slot lease grace period.")


class WorkPoolRef(Strict):
    """Where runs of the deployment execute."""

    name: PrefectName = Field(
        description="Work pool name (a WorkPool document or an existing pool).", examples=["default"]
    )
    queue: PrefectName | None = Field(default=None, description="Work queue name within the pool.")
    job_variables: dict[str, Any] = Field(default_factory=dict, description="Overrides of the pool's job template.")


class GitSource(Strict):
    """Workers clone this repository before running."""

    repository: str = Field(description="Clone URL.", examples=["https://github.com/acme/pipelines.git"])
    branch: str | None = Field(default=None, description="Branch to check out.")
    commit_sha: str | None = Field(default=None, description="Exact commit to check out.")
    credentials_block: str | None = Field(
        default=None,
        description=(
            "Block holding the clone credentials (https:// repositories only): a Secret block's value is"
            " git_clone's access_token; another block (e.g. github-credentials) is its credentials."
        ),
    )
    include_submodules: bool = Field(default=False, description="Clone submodules too.")
    directory: str | None = Field(default=None, description="Folder inside the repository holding the specs.")

    @model_validator(mode="after")
    def _clone_args(self) -> GitSource:
        # What Prefect's git_clone (runner/storage.py GitRepository) refuses on the worker,
        # so it fails here instead of in every run.
        if self.branch and self.commit_sha:
            raise ValueError("give `branch` or `commit_sha`, not both (Prefect's git_clone refuses both)")
        if self.commit_sha is not None and not re.fullmatch(r"[0-9a-fA-F]{4,64}", self.commit_sha):
            raise ValueError(f"`commit_sha` {self.commit_sha!r} is not a hexadecimal commit SHA (4 to 64 digits)")
        if self.branch is not None and self.branch.startswith("-"):
            raise ValueError("a `branch` cannot start with '-'")
        return self


class DirectorySource(Strict):
    """Workers run from a directory they can already read."""

    path: str = Field(description="Absolute directory on the worker.", examples=["/opt/pipelines"])


class Source(Strict):
    """Where workers get the code and specs. Exactly one of git, directory."""

    git: GitSource | None = Field(default=None, description="Clone a git repository.")
    directory: DirectorySource | None = Field(default=None, description="Use a directory the worker can read.")

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if (self.git is None) == (self.directory is None):
            raise ValueError("a source needs exactly one of: git, directory")
        return self


class DefaultWorkPool(Strict):
    """A default work pool: any of its fields; a Deployment's own values are merged over it."""

    name: PrefectName | None = Field(default=None, description="Work pool name.", examples=["k8s"])
    queue: PrefectName | None = Field(default=None, description="Work queue name within the pool.")
    job_variables: dict[str, Any] = Field(default_factory=dict, description="Overrides of the pool's job template.")


class DeploymentDefaults(Strict):
    """Deployment fields written once in the Project (`spec.defaults.deployment`). Each Deployment
    is merged over them: maps deep (work_pool, job_variables), lists and scalars replaced
    (tags, pull, environment); `source` and `pull` are one choice: a Deployment that sets
    either takes neither default."""

    source: Source | None = Field(default=None, description="Where workers get the code.")
    pull: list[dict[str, Any]] | None = Field(default=None, description="Raw Prefect pull steps (overrides `source`).")
    work_pool: DefaultWorkPool | None = Field(default=None, description="Work pool, queue and job variables.")
    job_variables: dict[str, Any] = Field(default_factory=dict, description="Job variables.")
    tags: Tags = Field(default_factory=list)
    environment: Name | None = Field(default=None, description="Name of an Environment document.")


class DeploymentSpec(Strict):
    """A Prefect deployment."""

    flow: PrefectName | None = Field(default=None, description="Name of a Flow document.", examples=["nightly-etl"])
    entrypoint: str | None = Field(
        default=None,
        pattern=ENTRYPOINT_PATTERN,
        description="Existing Python flow: 'path/to/file.py:function' ('file.py:Class.method' for a flow method), or a module path of the project ('pkg.module.function', 'pkg.module:Class.method').",
        examples=["flows/etl.py:nightly", "my_pkg.flows.nightly"],
    )
    flow_name: PrefectName | None = Field(
        default=None,
        description="Prefect flow name when using `entrypoint` (default: as Prefect names it: `@flow(name=...)`, else the function name with '_' as '-').",
    )
    work_pool: WorkPoolRef | None = Field(default=None, description="Work pool, queue and job variables.")
    environment: Name | None = Field(default=None, description="Name of an Environment document for the runs.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Default parameters of runs.")
    schedules: list[Schedule] = Field(default_factory=list, description="Schedules; `[]` removes all of them.")
    concurrency_limit: int | ConcurrencySpec | None = Field(default=None, description="Concurrent runs at most.")
    tags: Tags = Field(default_factory=list)
    description: str | None = Field(default=None, description="Shown in the Prefect UI.")
    version: str | None = Field(default=None, description="Version label; pipeform appends the spec hash and git SHA.")
    paused: bool = Field(default=False, description="Pause every schedule of the deployment.")
    enforce_parameter_schema: bool = Field(default=True, description="Refuse runs whose parameters fail the schema.")
    source: Source | None = Field(default=None, description="Where workers get the code.")
    pull: list[dict[str, Any]] | None = Field(
        default=None,
        description="Raw Prefect pull steps (overrides `source`).",
        examples=[[{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/app"}}]],
    )
    job_variables: dict[str, Any] = Field(
        default_factory=dict, description="Job variables (merged over the Environment's)."
    )
    triggers: list[DeploymentTrigger] = Field(
        default_factory=list,
        description="Deployment triggers, as in prefect.yaml: each is an automation owned by the deployment that runs it.",
        examples=[[{"expect": ["external.data.arrived"], "parameters": {"full": True}}]],
    )

    # The flow name the entrypoint's source declares (spec/flow_names.py), set when specs load.
    _entrypoint_flow_name: str | None = PrivateAttr(default=None)
    # Its Flow.description (`@flow(description=...)`, else the docstring): prefect deploy's
    # default deployment description.
    _entrypoint_description: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_flow(self) -> DeploymentSpec:
        if (self.flow is None) == (self.entrypoint is None):
            raise ValueError("a deployment needs exactly one of: flow, entrypoint")
        return self


class DeploymentDocument(DocumentBase):
    """kind: Deployment"""

    kind: Literal["Deployment"] = Field(description="Document kind.")
    metadata: PrefectMetadata
    spec: DeploymentSpec
