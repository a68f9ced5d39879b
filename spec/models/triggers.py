"""A Deployment's `triggers`: prefect.yaml's deployment triggers (Prefect 3.8,
prefect/events/schemas/deployment_triggers.py). Each becomes an automation owned by its
deployment whose one action runs that deployment (reconciler/kinds/deployment_trigger.py).

`type` may be left out, as in prefect.yaml: `triggers` + `require` is a compound trigger,
`triggers` alone a sequence, `posture: Metric` a metric trigger, anything else an event
trigger. Nested triggers (inside compound/sequence) have no automation fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from .automation import EventTrigger, ResourceLabels
from .common import PrefectName, Strict


def trigger_type(value: Any) -> str:
    """Prefect's deployment_trigger_discriminator: the explicit `type`, else inferred."""
    if isinstance(value, dict):
        if "type" in value:
            return str(value["type"])
        if value.get("posture") == "Metric":
            return "metric"
        if "triggers" in value:
            return "compound" if "require" in value else "sequence"
        return "event"
    return str(getattr(value, "type", "event"))


class TypedEventTrigger(EventTrigger):
    """An event trigger (the presence or absence of events)."""

    type: Literal["event"] = Field(default="event", description="Trigger type.")


class MetricQuery(Strict):
    """What a metric trigger measures (Prefect Cloud)."""

    name: str = Field(description="Metric: successes, duration or lateness.", examples=["successes"])
    threshold: float = Field(description="Value compared with the metric.")
    operator: Literal["<", "<=", ">", ">="] = Field(description="Comparison.")
    range: float = Field(default=300, description="Seconds the metric is computed over.")
    firing_for: float = Field(default=300, description="Seconds the condition must hold.")


class MetricTrigger(Strict):
    """A metric trigger: evaluated by Prefect Cloud only (the open-source server refuses it)."""

    type: Literal["metric"] = Field(default="metric", description="Trigger type.")
    posture: Literal["Metric"] = Field(default="Metric", description="Always Metric.")
    match: ResourceLabels = Field(default_factory=dict, description="Labels the resource must have.")
    match_related: ResourceLabels | list[ResourceLabels] = Field(
        default_factory=dict, description="Labels one of the related resources must have."
    )
    metric: MetricQuery = Field(description="The metric query.")


class CompoundTrigger(Strict):
    """Fires when `require` of its triggers fired within `within` seconds."""

    type: Literal["compound"] = Field(default="compound", description="Trigger type.")
    triggers: list[NestedTrigger] = Field(min_length=1, description="The triggers combined.")
    require: int | Literal["any", "all"] = Field(description="How many must fire: a number, 'any' or 'all'.")
    within: float | None = Field(default=None, ge=0, description="Window in seconds.")


class SequenceTrigger(Strict):
    """Fires when its triggers fired in this order within `within` seconds."""

    type: Literal["sequence"] = Field(default="sequence", description="Trigger type.")
    triggers: list[NestedTrigger] = Field(min_length=1, description="The triggers, in order.")
    within: float | None = Field(default=None, ge=0, description="Window in seconds.")


NestedTrigger = Annotated[
    Annotated[TypedEventTrigger, Tag("event")]
    | Annotated[MetricTrigger, Tag("metric")]
    | Annotated[CompoundTrigger, Tag("compound")]
    | Annotated[SequenceTrigger, Tag("sequence")],
    Discriminator(trigger_type),
]


class AutomationFields(Strict):
    """The automation made for the trigger, and the run its action creates."""

    name: PrefectName | None = Field(
        default=None,
        description="Name of the automation (default, as prefect deploy names it: '<deployment>__automation_<n>').",
    )
    description: str = Field(default="", description="Description of the automation.")
    enabled: bool = Field(default=True, description="Whether the automation is evaluated.")
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="Parameters of the run (default: the deployment's); `{{ event.* }}` templates are rendered by Prefect.",
    )
    job_variables: dict[str, Any] | None = Field(default=None, description="Job variables of the run.")
    schedule_after: float = Field(default=0, ge=0, description="Seconds to wait before the run starts.")


class DeploymentEventTrigger(AutomationFields, TypedEventTrigger):
    """Runs the deployment on the presence or absence of events."""


class DeploymentMetricTrigger(AutomationFields, MetricTrigger):
    """Runs the deployment on a metric (Prefect Cloud only)."""


class DeploymentCompoundTrigger(AutomationFields, CompoundTrigger):
    """Runs the deployment when `require` of its triggers fired."""


class DeploymentSequenceTrigger(AutomationFields, SequenceTrigger):
    """Runs the deployment when its triggers fired in order."""


DeploymentTrigger = Annotated[
    Annotated[DeploymentEventTrigger, Tag("event")]
    | Annotated[DeploymentMetricTrigger, Tag("metric")]
    | Annotated[DeploymentCompoundTrigger, Tag("compound")]
    | Annotated[DeploymentSequenceTrigger, Tag("sequence")],
    Discriminator(trigger_type),
]
AUTOMATION_FIELDS = frozenset(AutomationFields.model_fields)

CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()
DeploymentCompoundTrigger.model_rebuild()
DeploymentSequenceTrigger.model_rebuild()


DEFAULT_NAME_INFIX = "__automation_"  # Prefect's unnamed trigger: <deployment>__automation_<n>


def default_trigger_name(deployment: str, index: int) -> str:
    """Prefect's name for a deployment's unnamed trigger (`index`: 0-based position)."""
    return f"{deployment}{DEFAULT_NAME_INFIX}{index + 1}"


def trigger_name(deployment: str, index: int, trigger: Any) -> str:
    """The automation's name: the trigger's own, else Prefect's default."""
    return str(trigger.name or default_trigger_name(deployment, index))


def trigger_dump(trigger: Any) -> dict[str, Any]:
    """The trigger part of a deployment trigger (its automation fields left out)."""
    return {k: v for k, v in trigger.model_dump(mode="json").items() if k not in AUTOMATION_FIELDS}
