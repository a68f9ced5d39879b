"""The Flow kind: parameters, tasks, the DAG between them, and runtime options."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .common import CALLABLE_PATTERN, DocumentBase, Ident, PrefectMetadata, PrefectName, Strict
from .options import FlowOptions, Hooks, TaskOptions

ParamType = Literal["string", "integer", "number", "boolean", "array", "object", "null"]


class Parameter(Strict):
    """A typed flow parameter (JSON Schema types)."""

    type: ParamType | list[ParamType] = Field(description="JSON Schema type of the value.", examples=["string"])
    default: Any = Field(default=None, description="Default value; must match `type`.")
    description: str | None = Field(default=None, description="Shown in the Prefect UI's run form.")
    title: str | None = Field(default=None, description="Label shown in the Prefect UI instead of the name.")
    enum: list[Any] | None = Field(default=None, description="Allowed values.", examples=[["full", "incremental"]])
    required: bool = Field(default=False, description="A run must pass this parameter (no default).")
    items: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of array items.", examples=[{"type": "string"}]
    )
    format: str | None = Field(
        default=None, description="JSON Schema format, e.g. date or date-time.", examples=["date"]
    )
    minimum: float | None = Field(default=None, description="Smallest allowed number.")
    maximum: float | None = Field(default=None, description="Largest allowed number.")
    pattern: str | None = Field(default=None, description="Regular expression a string must match.")

    @model_validator(mode="after")
    def _limits_fit_the_type(self) -> Parameter:
        # pydantic applies them to whatever type it builds: `minimum` on a string or `pattern`
        # on an integer made every run fail with a TypeError, and an enum ignored them.
        types = set(self.type) if isinstance(self.type, list) else {self.type}
        bounds = [k for k in ("minimum", "maximum") if getattr(self, k) is not None]
        limits = [*bounds, *(["pattern"] if self.pattern is not None else [])]
        if self.enum and limits:
            raise ValueError(f"`enum` lists the allowed values: drop {', '.join(limits)}")
        if bounds and not types <= {"integer", "number", "null"}:
            raise ValueError(f"`{bounds[0]}` applies to integer and number parameters only")
        if self.pattern is not None and not types <= {"string", "null"}:
            raise ValueError("`pattern` applies to string parameters only")
        return self


class ShellTask(Strict):
    """A shell command; output streams into the run logs line by line."""

    command: str = Field(
        description="Command line run by /bin/sh -c.", examples=["dbt run --select $[ params.models ]"]
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    cwd: str | None = Field(default=None, description="Working directory.")
    capture: Literal["none", "stdout", "lines", "json"] = Field(
        default="stdout",
        description="Task result: nothing, stdout as text, stdout as a list of lines, or stdout parsed as JSON.",
    )
    stream_output: bool = Field(default=True, description="Log stdout and stderr lines as they arrive.")


class SubflowTask(Strict):
    """Call another Flow document as a Prefect subflow."""

    flow: PrefectName = Field(description="Name of a Flow document.", examples=["load-warehouse"])


class DeploymentTask(Strict):
    """Trigger a deployment run (Prefect's run_deployment)."""

    name: str = Field(
        description="A Deployment document name, or 'flow-name/deployment-name' of a deployment on the server.",
        examples=["nightly-etl"],
    )
    wait: bool = Field(default=True, description="Wait for the run to end; fail when it does not complete.")
    timeout_seconds: float | None = Field(default=None, gt=0, description="Stop waiting after this long.")
    job_variables: dict[str, Any] = Field(default_factory=dict, description="Job variable overrides for the run.")


class ApprovalInput(Strict):
    """A typed field a person fills in when resuming."""

    type: Literal["string", "integer", "number", "boolean"] = Field(description="Type of the value.")
    description: str | None = Field(default=None, description="Shown in the Prefect UI form.")
    default: Any = Field(default=None, description="Value prefilled in the form.")


class ApprovalTask(Strict):
    """Pause the flow run until a person resumes it in the Prefect UI."""

    message: str | None = Field(default=None, description="Why the run waits; logged when it pauses.")
    timeout_seconds: float = Field(default=3600, gt=0, description="Fail when nobody resumes within this time.")
    inputs: dict[str, ApprovalInput] = Field(
        default_factory=dict,
        description="Typed fields to ask for (Prefect wait_for_input); the task's result is a dict of them.",
        examples=[{"approved_by": {"type": "string"}}],
    )


class Task(TaskOptions):
    """One step of a flow. Exactly one of python, shell, subflow, deployment, approval."""

    name: Ident = Field(description="Task name, unique within the flow; used in references `tasks.NAME`.")
    description: str | None = Field(default=None, description="What the task does.")
    python: str | None = Field(
        default=None,
        pattern=CALLABLE_PATTERN,
        description="Python callable to run, as 'package.module:function'.",
        examples=["my_pipelines.extract:fetch_orders"],
    )
    shell: ShellTask | str | None = Field(
        default=None, description="Shell command (a string, or an object with options).", examples=["echo hello"]
    )
    subflow: SubflowTask | None = Field(default=None, description="Call another Flow as a subflow.")
    deployment: DeploymentTask | None = Field(default=None, description="Run a deployment.")
    approval: ApprovalTask | None = Field(default=None, description="Wait for a person to approve.")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments: literals, $[ params.X ] / $[ tasks.T.result ] references, << values.X >>.",
        examples=[{"table": "orders", "rows": "$[ tasks.extract.result ]"}],
    )
    map: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments to fan out over (zipped when several); the task runs once per item.",
        examples=[{"url": "$[ params.urls ]"}],
    )
    depends_on: list[Ident] = Field(default_factory=list, description="Tasks that must finish first (no data passed).")
    when: str | None = Field(
        default=None,
        description="Run only when this $[ ... ] expression is true; otherwise the task is skipped.",
        examples=["$[ params.mode == 'full' ]"],
    )
    hooks: Hooks | None = Field(default=None, description="Task-level state hooks.")

    @model_validator(mode="after")
    def _one_action(self) -> Task:
        given = [k for k in ("python", "shell", "subflow", "deployment", "approval") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a task needs exactly one of: python, shell, subflow, deployment, approval")
        return self

    @property
    def action(self) -> str:
        return next(k for k in ("python", "shell", "subflow", "deployment", "approval") if getattr(self, k) is not None)


class FlowSpec(FlowOptions):
    """A Prefect flow built from YAML."""

    parameters: dict[Ident, Parameter] = Field(default_factory=dict, description="Typed flow parameters.")
    tasks: list[Task] = Field(min_length=1, description="The tasks, in any order; dependencies decide when each runs.")
    task_defaults: TaskOptions | None = Field(default=None, description="Options applied to every task of this flow.")
    hooks: Hooks | None = Field(default=None, description="Flow-level state hooks.")
    returns: Any = Field(
        default=None,
        description="Flow result: a $[ tasks.T.result ] reference, or a mapping of them.",
        examples=["$[ tasks.load.result ]"],
    )
    retry_delay_seconds: float | None = Field(
        default=None, ge=0, description="Seconds between flow retries (flows take a number only)."
    )


class FlowDocument(DocumentBase):
    """kind: Flow"""

    kind: Literal["Flow"] = Field(description="Document kind.")
    metadata: PrefectMetadata
    spec: FlowSpec
