"""Semantic checks: every problem located, coded, with a suggestion where one exists."""

import json

import pytest

from pipeform.spec import load_project

FLOW = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: etl}
spec:
  parameters:
    n: {type: integer, default: 2}
    mode: {type: string, enum: [full, incremental], default: full}
  tasks:
    - name: extract
      python: pkg.mod:extract
      inputs:
        count: $[ params.n ]
    - name: load
      python: pkg.mod:load
      inputs:
        rows: $[ tasks.extract.result ]
"""


def problems(write, text: str, name: str = "f.yaml", env=None):
    path = write(name, text)
    project, diags = load_project([path], env=env)
    return project, [(d.code, d.origin.line, d.origin.column, d.hint) for d in diags], path


def codes(diags):
    return [d[0] for d in diags]


def test_valid_flow_has_no_diagnostics(write):
    project, diags, _ = problems(write, FLOW)
    assert diags == [] and project is not None
    assert project.flows["etl"].spec.tasks[1].inputs == {"rows": "$[ tasks.extract.result ]"}


@pytest.mark.parametrize(
    ("old", "new", "code", "line", "col", "hint"),
    [
        (
            "$[ tasks.extract.result ]",
            "$[ tasks.extrct.result ]",
            "ref.unknown-task",
            16,
            15,
            "did you mean 'extract'?",
        ),
        ("$[ params.n ]", "$[ params.nn ]", "ref.unknown-param", 12, 16, "did you mean 'n'?"),
        ("$[ params.n ]", "$[ parms.n ]", "expr.unknown-root", 12, 16, "did you mean 'params'?"),
        ("$[ params.n ]", "$[ params.n + ]", "expr.syntax", 12, 16, None),
        ("default: 2}", "default: two}", "param.default-type", 6, 33, None),
        ("default: full}", "default: fast}", "param.default-type", 7, 62, None),
        ("    - name: load\n", "    - name: extract\n", "name.duplicate", 13, 13, None),
        ("    n: {type", "    model_n: {type", "param.reserved-name", 6, 5, None),
        ("    n: {type", "    v__args: {type", "param.reserved-name", 6, 5, None),
    ],
)
def test_flow_reference_errors(write, old, new, code, line, col, hint):
    assert old in FLOW
    project, diags, _ = problems(write, FLOW.replace(old, new))
    assert project is None
    assert (code, line, col, hint) in diags


def test_depends_on_unknown_and_cycle(write):
    text = FLOW.replace("      python: pkg.mod:extract\n", "      python: pkg.mod:extract\n      depends_on: [load]\n")
    _, diags, _ = problems(write, text)
    assert ("graph.cycle", 9, 7, None) in diags
    _, diags, _ = problems(
        write,
        FLOW.replace("      python: pkg.mod:extract\n", "      python: pkg.mod:extract\n      depends_on: [lod]\n"),
    )
    assert ("ref.unknown-task", 11, 20, "did you mean 'load'?") in diags


def test_subflow_cycle_and_unknown_flow(write):
    text = """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: a}
spec:
  tasks:
    - {name: call_b, subflow: {flow: b}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: b}
spec:
  tasks:
    - {name: call_a, subflow: {flow: a}}
    - {name: call_c, subflow: {flow: cc}}
"""
    _, diags, _ = problems(write, text)
    assert "graph.cycle" in codes(diags)
    assert ("ref.unknown-flow", 14, 38, None) in diags


DEPLOYMENT = """\
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: nightly}
spec:
  flow: etl
  work_pool: {name: pool}
  parameters: {n: 5}
  schedules:
    - {slug: a, cron: "0 3 * * *", timezone: Europe/Berlin}
    - {slug: b, interval: 3600}
    - {slug: c, rrule: "FREQ=WEEKLY;BYDAY=MO"}
"""


def test_deployment_valid_with_pool_warning(write):
    project, diags, _ = problems(write, FLOW + DEPLOYMENT)
    assert project is not None
    assert codes(diags) == ["ref.unknown-pool"]  # a warning: the pool may exist on the server


@pytest.mark.parametrize(
    ("old", "new", "code", "line", "col"),
    [
        ('cron: "0 3 * * *"', 'cron: "0 3 * *"', "schedule.invalid", 26, 23),
        ("timezone: Europe/Berlin", "timezone: Europe/Berln", "schedule.invalid", 26, 46),
        ('rrule: "FREQ=WEEKLY;BYDAY=MO"', 'rrule: "FREQ=SOMETIMES"', "schedule.invalid", 28, 24),
        ("parameters: {n: 5}", "parameters: {m: 5}", "param.unknown", 24, 16),
        ("parameters: {n: 5}", "parameters: {n: five}", "param.type", 24, 19),
        ("flow: etl", "flow: elt", "ref.unknown-flow", 22, 9),
        ("{slug: b,", "{slug: a,", "name.duplicate", 27, 14),
    ],
)
def test_deployment_errors(write, old, new, code, line, col):
    _, diags, _ = problems(write, FLOW + DEPLOYMENT.replace(old, new))
    assert (code, line, col) in [d[:3] for d in diags], diags


def test_unknown_flow_suggests(write):
    _, diags, _ = problems(write, FLOW + DEPLOYMENT.replace("flow: etl", "flow: elt"))
    assert ("ref.unknown-flow", 22, 9, "did you mean 'etl'?") in diags


def test_duplicate_documents(write):
    _, diags, _ = problems(write, FLOW + "---\n" + FLOW)
    assert "name.duplicate" in codes(diags)


PROJECT = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: demo}
spec:
  env: {PIPEFORM_TEST_OWNER: {}}
  values: {replicas: 2, bucket: s3://dev, owner: "<< env.PIPEFORM_TEST_OWNER >>"}
  overlays:
    prod:
      values: {replicas: 5, bucket: s3://prod}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: settings}
spec:
  value:
    replicas: << values.replicas >>
    path: << values.bucket >>/data
    owner: << values.owner >>
    literal: \\<< not a value >>
"""


def test_compile_time_values_keep_types_and_overlays(write, monkeypatch):
    monkeypatch.setenv("PIPEFORM_TEST_OWNER", "ana")
    project, diags, _ = problems(write, PROJECT)
    assert diags == []
    assert project.variables["settings"].spec.value == {
        "replicas": 2,
        "path": "s3://dev/data",
        "owner": "ana",
        "literal": "<< not a value >>",
    }
    project, diags, _ = problems(write, PROJECT, env="prod")
    assert project.variables["settings"].spec.value["replicas"] == 5
    assert project.values["bucket"] == "s3://prod"


def test_undefined_value_and_unknown_env(write, monkeypatch):
    monkeypatch.setenv("PIPEFORM_TEST_OWNER", "ana")
    _, diags, _ = problems(write, PROJECT.replace("<< values.replicas >>", "<< values.replica >>"))
    assert ("value.undefined", 16, 15) in [d[:3] for d in diags]
    _, diags, _ = problems(write, PROJECT, env="prd")
    assert ("project.unknown-env", 7, 3, "did you mean 'prod'?") in diags


def test_template_typed_fields_pass_schema(write):
    text = (
        PROJECT
        + """\
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: pool}
spec:
  type: process
  concurrency_limit: << values.replicas >>
"""
    )
    project, diags, _ = problems(write, text.replace('"<< env.PIPEFORM_TEST_OWNER >>"', "x"), env="prod")
    assert diags == []
    assert project.work_pools["pool"].spec.concurrency_limit == 5


def test_output_formats(cli, write):
    path = write("f.yaml", FLOW.replace("$[ params.n ]", "$[ params.nn ]"))
    result = cli("validate", path, "--output", "json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["diagnostics"] == [
        {
            "code": "ref.unknown-param",
            "severity": "error",
            "message": "unknown parameter 'nn'",
            "file": str(path),
            "line": 12,
            "column": 16,
            "hint": "did you mean 'n'?",
        }
    ]
    result = cli("validate", path, "--output", "github")
    assert (
        f"::error file={path},line=12,col=16,title=ref.unknown-param::unknown parameter 'nn' (did you mean 'n'?)"
        in result.stdout
    )
    result = cli("validate", path)
    lines = result.output.splitlines()
    at = next(i for i, ln in enumerate(lines) if "ref.unknown-param" in ln)
    assert lines[at + 1].endswith("count: $[ params.nn ]")
    assert lines[at + 2].index("^") == lines[at + 1].index("$[")


def test_ok_summary(cli, write):
    result = cli("validate", write("f.yaml", FLOW))
    assert result.exit_code == 0
    assert "1 document OK" in result.output
