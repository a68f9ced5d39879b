"""Module-path entrypoints (`pkg.module.function`, `pkg.module:function`), which Prefect's
load_flow_from_entrypoint imports from the working directory: read statically from the
project's own files (flow name, parameters, description agree with Prefect's loader),
applied to the real server, loadable by Prefect from the stored pull step's folder; a module
that is not a project file is a located error saying why."""

from __future__ import annotations

import contextlib

import pytest
from server_helpers import apply_specs, project_dir, server

from pipeform.spec import load_project

FLOWS = '''\
from prefect import flow

from .helpers import SUFFIX  # a relative import: Prefect imports the module as part of its package


@flow(name="Module Flow")
def run(day: str, retries: int = 2) -> str:
    """Runs one day.

    Args:
        day: the day to run
    """
    return day + SUFFIX


class Runs:
    @flow(name="Class Flow")
    @classmethod
    def daily(cls, day: str, retries: int = 3) -> str:
        """Runs daily."""
        return day + SUFFIX
'''

SPEC = """\
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: by-module}
spec:
  entrypoint: ENTRY
  parameters: {day: "2026-12-01"}
"""


def _project(tmp_path, entry: str):
    d, name = project_dir(tmp_path, SPEC.replace("ENTRY", entry))
    (d / "pkg").mkdir()
    (d / "pkg" / "__init__.py").write_text("")
    (d / "pkg" / "helpers.py").write_text("SUFFIX = '!'\n")
    (d / "pkg" / "flows.py").write_text(FLOWS)
    return d, name


def _prefect_loads(folder, entrypoint: str):
    """What a worker does: load the entrypoint from its working directory."""
    import sys

    from prefect.flows import load_flow_from_entrypoint

    with contextlib.chdir(folder):
        try:
            return load_flow_from_entrypoint(entrypoint)
        finally:
            for mod in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
                del sys.modules[mod]  # the next test's package of the same name is another folder


@pytest.mark.parametrize("entry", ["pkg.flows.run", "pkg.flows:run"])
def test_module_path_read_statically_as_prefect_loads_it(tmp_path, entry):
    from prefect.utilities.callables import parameter_schema as prefect_schema

    from pipeform.spec.entrypoints import parameter_schema
    from pipeform.spec.flow_names import deployment_flow_name

    d, _ = _project(tmp_path, entry)
    project, diags = load_project([d])
    assert project is not None and not [x for x in diags if x.severity == "error"], diags
    spec = project.deployments["by-module"].spec
    loaded = _prefect_loads(d, entry)
    assert deployment_flow_name(spec) == loaded.name == "Module Flow"
    assert spec._entrypoint_description == loaded.description
    ours = parameter_schema(str(d), entry)
    assert not ours.executed and ours.schema == prefect_schema(loaded).model_dump(mode="json")


def test_module_path_applied_and_loadable_from_the_pull_step_folder(tmp_path, prefect_api):
    d, _ = _project(tmp_path, "pkg.flows.run")
    _, outcomes, _ = apply_specs(d)
    assert all(o.ok for o in outcomes), outcomes
    dep = server("GET", "/deployments/name/Module Flow/by-module".replace(" ", "%20"))
    assert dep["entrypoint"] == "pkg.flows.run"
    assert dep["description"].startswith("Runs one day.")
    assert dep["parameter_openapi_schema"]["required"] == ["day"]
    assert dep["parameter_openapi_schema"]["properties"]["day"]["description"] == "the day to run"
    [step] = dep["pull_steps"]
    folder = step["prefect.deployments.steps.set_working_directory"]["directory"]
    assert _prefect_loads(folder, dep["entrypoint"]).name == "Module Flow"
    server("DELETE", f"/deployments/{dep['id']}")


def test_module_outside_the_project_is_a_located_error(tmp_path, cli):
    d, _ = _project(tmp_path, "json.decoder.JSONDecoder")
    result = cli("validate", str(d))
    assert result.exit_code == 1
    assert "project.yaml:10:15: error[entrypoint.not-found] module 'json.decoder' is not a file" in result.output
    assert "a module of an installed package cannot be read" in result.output


def test_module_class_method_read_applied_and_loadable(tmp_path, prefect_api):
    """`pkg.mod:Class.method` (Prefect's import_object follows the attribute path after the
    colon): read statically as Prefect loads it, applied, loadable from the pull step folder."""
    from prefect.utilities.callables import parameter_schema as prefect_schema

    from pipeform.spec.entrypoints import parameter_schema
    from pipeform.spec.flow_names import deployment_flow_name

    entry = "pkg.flows:Runs.daily"
    d, _ = _project(tmp_path, entry)
    project, diags = load_project([d])
    assert project is not None and not [x for x in diags if x.severity == "error"], diags
    loaded = _prefect_loads(d, entry)
    assert deployment_flow_name(project.deployments["by-module"].spec) == loaded.name == "Class Flow"
    ours = parameter_schema(str(d), entry)
    assert not ours.executed and ours.schema == prefect_schema(loaded).model_dump(mode="json")
    assert set(ours.schema["properties"]) == {"day", "retries"}  # cls left out, as Prefect leaves it
    _, outcomes, _ = apply_specs(d)
    assert all(o.ok for o in outcomes), outcomes
    dep = server("GET", "/deployments/name/Class%20Flow/by-module")
    assert dep["entrypoint"] == entry and dep["description"] == "Runs daily."
    assert dep["parameter_openapi_schema"]["properties"]["retries"]["default"] == 3
    [step] = dep["pull_steps"]
    folder = step["prefect.deployments.steps.set_working_directory"]["directory"]
    assert _prefect_loads(folder, dep["entrypoint"]).name == "Class Flow"
    server("DELETE", f"/deployments/{dep['id']}")
