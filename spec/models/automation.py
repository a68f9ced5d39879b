"""The Automation kind: a Prefect automation (an event trigger and typed actions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .common import DocumentBase, PrefectMetadata, Strict, Tags

DEPLOYMENT_REF = Field(
    default=None,
    description=(
        "The deployment acted on: a Deployment document's name, or 'FLOW/NAME' (which may also name a"
        " deployment that only exists on the server). Omitted: the deployment of the triggering event."
    ),
    examples=["nightly-etl-prod", "legacy-report/legacy-report-daily"],
)
ResourceLabels = dict[str, str | list[str]]


class EventTrigger(Strict):
    """Fires on the presence (Reactive) or absence (Proactive) of events."""

    match: ResourceLabels = Field(
        default_factory=dict,
        description="Labels the event's resource must have; a value may be a list and may end with '*'.",
        examples=[{"prefect.resource.id": "prefect.flow-run.*"}],
    )
    match_related: ResourceLabels | list[ResourceLabels] = Field(
        default_factory=dict,
        description="Labels one of the event's related resources must have (a list: each must match one).",
        examples=[{"prefect.resource.role": "deployment", "prefect.resource.name": "nightly-etl-prod"}],
    )
    after: list[str] = Field(
        default_factory=list,
        description="Events that must be seen first before this trigger counts events.",
        examples=[["prefect.flow-run.Running"]],
    )
    expect: list[str] = Field(
        default_factory=list,
        description="Events this trigger counts (empty: any event); trailing '*' wildcards allowed.",
        examples=[["prefect.flow-run.Failed", "prefect.flow-run.Crashed"]],
    )
    for_each: list[str] = Field(
        default_factory=list,
        description="Evaluate separately for each distinct value of these resource labels.",
        examples=[["prefect.resource.id"]],
    )
    posture: Literal["Reactive", "Proactive"] = Field(
        default="Reactive",
        description="Reactive fires when the events happen; Proactive when they do not happen `within`.",
    )
    threshold: int = Field(
        default=1, ge=1, description="Events needed to fire (Reactive) or expected (Proactive).", examples=[3]
    )
    within: float = Field(
        default=0,
        ge=0,
        description="Window in seconds over which `threshold` events are counted (Proactive: at least 10; 0 means 10).",
        examples=[300],
    )

    @model_validator(mode="after")
    def _proactive_window(self) -> EventTrigger:
        if self.posture == "Proactive" and 0 < self.within < 10:
            raise ValueError("a Proactive trigger needs `within` of at least 10 seconds")
        return self


class RunDeploymentAction(Strict):
    """Create a flow run of a deployment."""

    type: Literal["run-deployment"] = Field(description="Action type.")
    deployment: str | None = DEPLOYMENT_REF
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of the run (default: the deployment's).", examples=[{"n": 1}]
    )
    job_variables: dict[str, Any] = Field(
        default_factory=dict, description="Job variables of the run (over the deployment's)."
    )
    schedule_after: float = Field(default=0, ge=0, description="Delay of the run, in seconds.", examples=[60])


class _Action(Strict):
    # `type` first in every variant; each narrows it to its own Literal (the discriminator).
    type: str = Field(description="Action type.")


class _OnDeployment(_Action):
    deployment: str | None = DEPLOYMENT_REF


class PauseDeploymentAction(_OnDeployment):
    """Pause a deployment's schedules."""

    type: Literal["pause-deployment"] = Field(description="Action type.")


class ResumeDeploymentAction(_OnDeployment):
    """Resume a deployment's schedules."""

    type: Literal["resume-deployment"] = Field(description="Action type.")


class CancelFlowRunAction(Strict):
    """Cancel the flow run of the triggering event."""

    type: Literal["cancel-flow-run"] = Field(description="Action type.")


class SuspendFlowRunAction(Strict):
    """Suspend the flow run of the triggering event."""

    type: Literal["suspend-flow-run"] = Field(description="Action type.")


class ChangeFlowRunStateAction(Strict):
    """Set the state of the flow run of the triggering event."""

    type: Literal["change-flow-run-state"] = Field(description="Action type.")
    state: Literal["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "PAUSED"] = Field(
        description="State type to set.", examples=["FAILED"]
    )
    name: str | None = Field(default=None, description="State name (default: from the type).", examples=["TimedOut"])
    message: str | None = Field(default=None, description="State message.", examples=["Ran longer than an hour"])
    force: bool = Field(default=False, description="Set the state even if orchestration rules refuse it.")


class DeleteFlowRunAction(Strict):
    """Delete the flow run of the triggering event."""

    type: Literal["delete-flow-run"] = Field(description="Action type.")


class ResumeFlowRunAction(Strict):
    """Resume the paused or suspended flow run of the triggering event."""

    type: Literal["resume-flow-run"] = Field(description="Action type.")


class DoNothingAction(Strict):
    """Do nothing (an automation kept only for its events and state)."""

    type: Literal["do-nothing"] = Field(description="Action type.")


BLOCK_REF = Field(
    description=("The block used: a Block document's name, or 'TYPE/NAME' of a block that only exists on the server."),
    examples=["slack-alerts", "slack-webhook/ops"],
)


class SendNotificationAction(Strict):
    """Send a notification through a notification block (slack-webhook, custom-webhook, email, ...)."""

    type: Literal["send-notification"] = Field(description="Action type.")
    block: str = BLOCK_REF
    subject: str = Field(
        default="Prefect automated notification",
        description="Subject: a Jinja template Prefect renders with the event ({{ flow_run.name }}, ...).",
    )
    body: str = Field(
        description="Text of the notification: a Jinja template Prefect renders with the event.",
        examples=["Flow run {{ flow_run.name }} entered {{ flow_run.state.name }}"],
    )


class CallWebhookAction(Strict):
    """Call a `webhook` block with a templated payload."""

    type: Literal["call-webhook"] = Field(description="Action type.")
    block: str = BLOCK_REF
    payload: str = Field(
        default="", description="Body sent: a Jinja template Prefect renders with the event.", examples=['{"ok": 1}']
    )


WORK_POOL_REF = Field(
    default=None,
    description="A work pool's name (a WorkPool document or one on the server). Omitted: the triggering event's.",
    examples=["k8s-prod"],
)
WORK_QUEUE_REF = Field(
    default=None,
    description="A work queue as 'POOL/QUEUE'. Omitted: the work queue of the triggering event.",
    examples=["k8s-prod/critical"],
)
AUTOMATION_REF = Field(
    default=None,
    description="An automation's name (an Automation document or one on the server). Omitted: the triggering event's.",
    examples=["page-on-failure"],
)


class _OnWorkPool(_Action):
    work_pool: str | None = WORK_POOL_REF


class _OnWorkQueue(_Action):
    work_queue: str | None = WORK_QUEUE_REF


class _OnAutomation(_Action):
    automation: str | None = AUTOMATION_REF


class PauseWorkPoolAction(_OnWorkPool):
    """Pause a work pool."""

    type: Literal["pause-work-pool"] = Field(description="Action type.")


class ResumeWorkPoolAction(_OnWorkPool):
    """Resume a work pool."""

    type: Literal["resume-work-pool"] = Field(description="Action type.")


class PauseWorkQueueAction(_OnWorkQueue):
    """Pause a work queue."""

    type: Literal["pause-work-queue"] = Field(description="Action type.")


class ResumeWorkQueueAction(_OnWorkQueue):
    """Resume a work queue."""

    type: Literal["resume-work-queue"] = Field(description="Action type.")


class PauseAutomationAction(_OnAutomation):
    """Disable an automation."""

    type: Literal["pause-automation"] = Field(description="Action type.")


class ResumeAutomationAction(_OnAutomation):
    """Enable an automation."""

    type: Literal["resume-automation"] = Field(description="Action type.")


AutomationAction = Annotated[
    RunDeploymentAction
    | PauseDeploymentAction
    | ResumeDeploymentAction
    | CancelFlowRunAction
    | SuspendFlowRunAction
    | ChangeFlowRunStateAction
    | DeleteFlowRunAction
    | ResumeFlowRunAction
    | DoNothingAction
    | SendNotificationAction
    | CallWebhookAction
    | PauseWorkPoolAction
    | ResumeWorkPoolAction
    | PauseWorkQueueAction
    | ResumeWorkQueueAction
    | PauseAutomationAction
    | ResumeAutomationAction,
    Field(discriminator="type"),
]
DEPLOYMENT_ACTIONS = ("run-deployment", "pause-deployment", "resume-deployment")
BLOCK_ACTIONS = ("send-notification", "call-webhook")


class AutomationSpec(Strict):
    """A Prefect automation: when the trigger fires, the actions run."""

    description: str | None = Field(default=None, description="Shown in the Prefect UI.")
    enabled: bool = Field(default=True, description="Disabled automations are not evaluated.")
    tags: Tags = Field(default_factory=list)
    trigger: EventTrigger = Field(description="The event trigger.")
    actions: list[AutomationAction] = Field(
        min_length=1,
        description="What to do when the trigger fires.",
        examples=[[{"type": "run-deployment", "deployment": "cleanup-prod", "parameters": {"full": True}}]],
    )
    actions_on_trigger: list[AutomationAction] = Field(
        default_factory=list, description="What to do when the automation enters the triggered state."
    )
    actions_on_resolve: list[AutomationAction] = Field(
        default_factory=list, description="What to do when the automation resolves (a Proactive trigger's events came)."
    )


class AutomationDocument(DocumentBase):
    """kind: Automation"""

    kind: Literal["Automation"] = Field(description="Document kind.")
    metadata: PrefectMetadata
    spec: AutomationSpec
