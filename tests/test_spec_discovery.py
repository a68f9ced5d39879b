"""Only pipeform documents are read from a folder; .pipeformignore excludes paths; a file
named on the command line is always read; a broken pipeform file is still an error."""

from pipeform.spec import load_project
from pipeform.spec.discover import discover_all

DEPLOYMENT = """\
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: nightly}
spec:
  entrypoint: flows/etl.py:etl
  flow_name: etl
"""

WORKFLOW = """\
name: ci
on: [push, pull_request]
jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pipeform validate .
"""

DBT = """\
name: jaffle_shop
version: "1.0.0"
config-version: 2
profile: jaffle_shop
model-paths: ["models"]
"""

COMPOSE = """\
services:
  db:
    image: postgres:16
    environment: {POSTGRES_PASSWORD: x}
"""

K8S = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 1}
"""


def _tree(write):
    write("specs/deploy.yaml", DEPLOYMENT)
    write(".github/workflows/ci.yml", WORKFLOW)
    write("dbt/dbt_project.yml", DBT)
    write("docker-compose.yml", COMPOSE)
    write("k8s/web.yaml", K8S)
    return write("specs/deploy.yaml", DEPLOYMENT).parent.parent


def test_tree_with_workflow_dbt_and_compose_validates(write, cli):
    root = _tree(write)
    project, diags = load_project([root])
    assert [d.code for d in diags if d.severity == "error"] == []
    assert project is not None and list(project.deployments) == ["nightly"]
    result = cli("validate", root)
    assert result.exit_code == 0, result.output


def test_verbose_lists_skipped_files(write, cli):
    root = _tree(write)
    found = discover_all([root])
    skipped = sorted(p.relative_to(root).as_posix() for p, _ in found.skipped)
    assert skipped == [".github/workflows/ci.yml", "dbt/dbt_project.yml", "docker-compose.yml", "k8s/web.yaml"]
    result = cli("validate", "--verbose", root)
    assert result.exit_code == 0
    assert "skipped" in result.output and "dbt_project.yml" in result.output


def test_named_file_is_read_even_if_not_pipeform(write):
    path = write("docker-compose.yml", COMPOSE)
    project, diags = load_project([path])
    assert project is None and [d.origin.file for d in diags if d.severity == "error"][:1] == [str(path)]


def test_broken_pipeform_file_is_still_an_error(write):
    write("ok.yaml", DEPLOYMENT)
    bad = write("bad.yaml", "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: x\n")
    project, diags = load_project([bad.parent])
    assert project is None
    assert next((d.code, d.origin.file) for d in diags if d.severity == "error") == ("yaml.syntax", str(bad))


def test_missing_api_version_with_pipeform_kind_is_reported(write):
    path = write("d.yaml", DEPLOYMENT.replace("apiVersion: pipeform/v1\n", ""))
    project, diags = load_project([path.parent])
    assert project is None and any(d.origin.file == str(path) for d in diags)


def test_pipeformignore_excludes_paths(write):
    write("specs/deploy.yaml", DEPLOYMENT)
    write("specs/wip/broken.yaml", "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: x\n")
    write("specs/old/other.yaml", DEPLOYMENT.replace("nightly", "old"))
    root = write(".pipeformignore", "# work in progress\nwip/\n").parent
    write("specs/.pipeformignore", "old/*.yaml\n")
    project, diags = load_project([root])
    assert [d.code for d in diags if d.severity == "error"] == []
    assert list(project.deployments) == ["nightly"]
    why = {p.relative_to(root).as_posix(): w for p, w in discover_all([root]).skipped}
    assert why == {
        "specs/wip/broken.yaml": "excluded by .pipeformignore",
        "specs/old/other.yaml": "excluded by .pipeformignore",
    }
