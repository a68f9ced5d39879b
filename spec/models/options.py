"""Runtime options shared by flows, tasks and project-wide defaults."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .common import Ident, Strict, Tags
from .deployment import DeploymentDefaults


class ExponentialBackoff(Strict):
    """Delays of base * factor**attempt seconds, capped, with optional jitter."""

    backoff: Literal["exponential"] = Field(description="Backoff strategy; only 'exponential' exists.")
    base_seconds: float = Field(default=1.0, gt=0, description="Delay before the first retry.", examples=[2])
    factor: float = Field(default=2.0, ge=1, description="Multiplier applied after each retry.")
    max_seconds: float | None = Field(
        default=None, gt=0, description="Upper bound of any single delay.", examples=[300]
    )
    jitter_factor: float | None = Field(
        default=None, ge=0, description="Prefect's retry_jitter_factor: each delay may grow by up to this fraction."
    )


RetryDelay = Annotated[
    float | list[float] | ExponentialBackoff,
    Field(
        description="Seconds between retries: a number, a list (one per retry, at most 50), or an exponential backoff.",
        examples=[10, [1, 10, 60], {"backoff": "exponential", "base_seconds": 2, "max_seconds": 120}],
    ),
]

CachePolicyName = Literal["default", "inputs", "task_source", "flow_parameters", "run_id", "none"]


class CacheOptions(Strict):
    """How a task's result is cached and reused (Prefect cache policies)."""

    policy: CachePolicyName | list[CachePolicyName] = Field(
        default="default",
        description="Cache policy, or several combined with '+': default, inputs, task_source, flow_parameters, run_id, none.",
        examples=[["inputs", "task_source"]],
    )
    exclude_inputs: list[str] = Field(
        default_factory=list, description="Input names left out of the cache key.", examples=[["api_client"]]
    )
    expiration_seconds: float | None = Field(default=None, gt=0, description="How long a cached result stays valid.")
    refresh: bool = Field(default=False, description="Always run and overwrite the cached result.")
    key_storage: str | None = Field(default=None, description="Where cache records are kept (a path or block slug).")


class ConcurrencyOptions(Strict):
    """Occupy named global concurrency limits while the task runs, or rate-limit it."""

    limits: list[str] = Field(
        default_factory=list,
        description="Names of ConcurrencyLimit documents (global limits) to occupy.",
        examples=[["warehouse"]],
    )
    occupy: int = Field(default=1, ge=1, description="Slots taken in each limit.")
    rate_limit: list[str] = Field(
        default_factory=list,
        description="Names of global limits (with slot decay) to use as rate limits before running.",
    )
    timeout_seconds: float | None = Field(default=None, gt=0, description="Give up waiting for slots after this long.")


class HookAction(Strict):
    """What to run when a hook fires: a declared task of the same flow, or a shell command."""

    task: Ident | None = Field(default=None, description="Name of a task of this flow to run as the hook.")
    shell: str | None = Field(
        default=None, description="Shell command to run as the hook.", examples=["notify-oncall.sh"]
    )
    python: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="Import path of a Prefect state hook `module:function(obj, run, state)`.",
    )


class Hooks(Strict):
    """State hooks."""

    on_failure: list[HookAction] = Field(default_factory=list, description="Run when the run fails.")
    on_completion: list[HookAction] = Field(default_factory=list, description="Run when the run completes.")


class CommonOptions(Strict):
    """Options that flows and tasks share."""

    retries: int | None = Field(
        default=None, ge=0, description="How many times to retry after a failure.", examples=[3]
    )
    retry_delay_seconds: RetryDelay | None = Field(
        default=None,
        description="Seconds between retries: a number, a list (one per retry, at most 50), or an exponential backoff.",
        examples=[10, [1, 10, 60], {"backoff": "exponential", "base_seconds": 2, "max_seconds": 120}],
    )
    timeout_seconds: float | None = Field(
        default=None, gt=0, description="Fail the run after this many seconds.", examples=[600]
    )
    persist_result: bool | None = Field(default=None, description="Persist the result to result storage.")
    result_storage: str | None = Field(
        default=None, description="Result storage: a local path or a block slug such as 's3-bucket/results'."
    )
    result_serializer: Literal["pickle", "json"] | None = Field(default=None, description="How results are serialized.")
    log_prints: bool | None = Field(default=None, description="Send print() output to the Prefect run logs.")
    tags: Tags = Field(default_factory=list)
    version: str | None = Field(default=None, description="Version string recorded on runs.")


class TaskOptions(CommonOptions):
    """Runtime options of a task (and of project-wide task defaults)."""

    retry_on: list[str] = Field(
        default_factory=list,
        description="Retry only when the exception is one of these (class name or import path).",
        examples=[["TimeoutError", "requests.exceptions.ConnectionError"]],
    )
    cache: CacheOptions | None = Field(default=None, description="Result caching.")
    run_name: str | None = Field(
        default=None,
        description="Task-run name template; may use $[ ... ] references to inputs.",
        examples=["load-$[ inputs.table ]"],
    )
    concurrency: ConcurrencyOptions | None = Field(default=None, description="Global concurrency and rate limits.")
    continue_on_failure: bool | None = Field(
        default=None, description="Downstream tasks still run when this task fails (Prefect's allow_failure)."
    )


class ThreadPoolRunner(Strict):
    """Run tasks on threads in the flow's process."""

    type: Literal["thread_pool"] = Field(description="Task runner type.")
    max_workers: int | None = Field(default=None, ge=1, description="Threads at most.")


class ProcessPoolRunner(Strict):
    """Run tasks in worker processes."""

    type: Literal["process_pool"] = Field(description="Task runner type.")
    max_workers: int | None = Field(default=None, ge=1, description="Processes at most.")


class DaskRunner(Strict):
    """Run tasks on Dask (needs the `pipeform[dask]` extra)."""

    type: Literal["dask"] = Field(description="Task runner type.")
    address: str | None = Field(
        default=None, description="Address of an existing Dask scheduler; a local cluster when empty."
    )
    cluster_class: str | None = Field(default=None, description="Import path of a Dask cluster class.")
    cluster_kwargs: dict[str, object] = Field(
        default_factory=dict, description="Keyword arguments for the cluster class."
    )


class RayRunner(Strict):
    """Run tasks on Ray (needs prefect-ray installed)."""

    type: Literal["ray"] = Field(description="Task runner type.")
    address: str | None = Field(default=None, description="Address of a Ray cluster; a local one when empty.")


TaskRunner = Annotated[
    ThreadPoolRunner | ProcessPoolRunner | DaskRunner | RayRunner,
    Field(discriminator="type", description="Task runner of the flow."),
]


class FlowOptions(CommonOptions):
    """Runtime options of a flow (and of project-wide flow defaults)."""

    task_runner: TaskRunner | None = Field(
        default=None, description="Task runner: thread_pool, process_pool, dask or ray."
    )
    run_name: str | None = Field(
        default=None, description="Flow-run name template; may use $[ params.X ].", examples=["etl-$[ params.date ]"]
    )
    validate_parameters: bool | None = Field(default=None, description="Validate run parameters against the schema.")


class Defaults(Strict):
    """Project-wide defaults, written once and applied where a document leaves a field unset."""

    flow: FlowOptions = Field(default_factory=FlowOptions, description="Defaults for every flow.")
    task: TaskOptions = Field(default_factory=TaskOptions, description="Defaults for every task.")
    deployment: DeploymentDefaults = Field(
        default_factory=DeploymentDefaults,
        description="Defaults for every Deployment: source/pull, work_pool, job_variables, tags, environment.",
    )
