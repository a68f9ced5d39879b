"""The Automation kind: schema, model rules and deployment references, every problem located."""

from pipeform.spec import load_project

DEPLOYMENTS = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: etl}
spec:
  tasks:
    - {name: t, python: "pkg.mod:t"}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: etl-prod}
spec: {flow: etl}
---
"""

AUTOMATION = """\
apiVersion: pipeform/v1
kind: Automation
metadata: {name: on-failure}
spec:
  trigger:
    expect: [prefect.flow-run.Failed]
    match_related: {prefect.resource.role: deployment, prefect.resource.name: etl-prod}
  actions:
    - type: run-deployment
      deployment: etl-prod
      parameters: {n: 1}
    - type: pause-deployment
      deployment: etl/etl-prod
    - type: change-flow-run-state
      state: FAILED
      message: gave up
"""


def problems(write, text: str):
    path = write("a.yaml", text)
    project, diags = load_project([path])
    return project, [(d.code, d.origin.line, d.origin.column, d.hint, d.severity) for d in diags]


def test_valid_automation(write):
    project, diags = problems(write, DEPLOYMENTS + AUTOMATION)
    assert diags == []
    spec = project.automations["on-failure"].spec
    assert spec.enabled and spec.trigger.posture == "Reactive" and spec.trigger.threshold == 1
    assert [a.type for a in spec.actions] == ["run-deployment", "pause-deployment", "change-flow-run-state"]


def test_unknown_deployment_reference_is_located_with_a_hint(write):
    _, diags = problems(write, DEPLOYMENTS + AUTOMATION.replace("deployment: etl-prod", "deployment: etl-prd"))
    assert diags == [("ref.unknown-deployment", 22, 19, "did you mean 'etl-prod'?", "error")]


def test_flow_slash_name_not_declared_is_a_warning(write):
    _, diags = problems(write, DEPLOYMENTS + AUTOMATION.replace("etl/etl-prod", "etl/etl-prd"))
    assert diags == [("ref.unknown-deployment", 25, 19, "did you mean 'etl/etl-prod'?", "warning")]


def test_unknown_fields_are_located(write):
    _, diags = problems(write, DEPLOYMENTS + AUTOMATION.replace("      message: gave up", "      mesage: gave up"))
    assert diags == [("schema.unknown-field", 28, 7, "did you mean 'message'?", "error")]
    _, diags = problems(write, DEPLOYMENTS + AUTOMATION.replace("    expect:", "    expects:"))
    assert diags == [("schema.unknown-field", 18, 5, "did you mean 'expect'?", "error")]


def test_unknown_action_type_and_bad_state(write):
    _, diags = problems(write, DEPLOYMENTS + AUTOMATION.replace("type: pause-deployment", "type: pause-deploy"))
    assert diags[0][:3] == ("schema.enum", 24, 13) and diags[0][3] == "did you mean 'pause-deployment'?"
    _, diags = problems(write, DEPLOYMENTS + AUTOMATION.replace("state: FAILED", "state: FAIL"))
    assert [d[:3] for d in diags] == [("schema.enum", 27, 14)]


def test_proactive_window_rule(write):
    text = DEPLOYMENTS + AUTOMATION.replace("    expect:", "    posture: Proactive\n    within: 5\n    expect:")
    _, diags = problems(write, text)
    assert [d[0] for d in diags] == ["model.invalid"]
