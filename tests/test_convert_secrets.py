"""A secret `{{ $VAR }}` of a prefect.yaml where the worker reads it (job variables, pull
steps) becomes a Secret block pipeform owns (a Block document reading $VAR when applying)
and a `{{ prefect.blocks.secret.NAME }}` reference, as pipeform keeps an Environment's
`from_env` values: no REST read of the deployment holds the value; the job the worker
renders from the pool's template has it."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import yaml
from server_helpers import apply_specs, plan_specs, server

pytestmark = pytest.mark.usefixtures("prefect_api")
SECRET = "s3cr3t-" + uuid.uuid4().hex

PREFECT_YAML = """\
name: secrets
deployments:
  - name: NAME-dep
    entrypoint: flows.py:job
    pull:
      - prefect.deployments.steps.set_working_directory:
          directory: /opt/app
      - prefect.deployments.steps.run_shell_script:
          script: "echo $DIR"
          env: {GIT_TOKEN: "{{ $UNAME_API_TOKEN }}"}
    work_pool:
      name: NAME-pool
      job_variables:
        env:
          API_TOKEN: "{{ $UNAME_API_TOKEN }}"
          AUTH_HEADER: "Bearer {{ $UNAME_API_TOKEN }}"
          MODE: "{{ $UNAME_MODE }}"
"""


def test_secret_env_placeholder_becomes_a_secret_block(tmp_path, cli, monkeypatch):
    name = f"sec{uuid.uuid4().hex[:8]}"
    var, mode = f"{name.upper()}_API_TOKEN", f"{name.upper()}_MODE"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "prefect.yaml").write_text(PREFECT_YAML.replace("UNAME", name.upper()).replace("NAME", name))
    (folder / "flows.py").write_text("from prefect import flow\n\n@flow\ndef job():\n    pass\n")
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()  # as `prefect work-pool create` makes it
    server("POST", "/work_pools/", {"name": f"{name}-pool", "type": "process", "base_job_template": template})
    monkeypatch.setenv(mode, "fast")
    converted = cli("convert", str(folder / "prefect.yaml"), "--out", str(folder), "--project", name)
    assert converted.exit_code == 0, converted.output

    [block] = yaml.safe_load_all((folder / "blocks.yaml").read_text())
    block_name = f"{name}-{var.lower().replace('_', '-')}"
    assert block["kind"] == "Block" and block["metadata"]["name"] == block_name
    assert block["spec"] == {"type": "secret", "data": {"value": {"from_env": var}}}
    [dep] = [d for d in yaml.safe_load_all((folder / "deployments.yaml").read_text()) if d]
    ref = f"{{{{ prefect.blocks.secret.{block_name} }}}}"
    env = dep["spec"]["work_pool"]["job_variables"]["env"]
    assert env == {"API_TOKEN": ref, "AUTH_HEADER": f"Bearer {ref}", "MODE": f"<< env.{mode} >>"}
    assert dep["spec"]["pull"][1]["prefect.deployments.steps.run_shell_script"]["env"] == {"GIT_TOKEN": ref}
    project = yaml.safe_load((folder / "project.yaml").read_text())
    assert var not in project["spec"].get("env", {})  # read by the block, not by << env.X >>

    monkeypatch.setenv(var, SECRET)
    _, outcomes, _ = apply_specs(folder)
    assert all(o.ok for o in outcomes), outcomes
    deployment = server("GET", f"/deployments/name/job/{name}-dep")
    assert SECRET not in json.dumps(deployment)
    assert deployment["job_variables"]["env"]["API_TOKEN"] == ref
    blocks = server("POST", "/block_documents/filter", {"block_documents": {"name": {"any_": [block_name]}}})
    assert len(blocks) == 1 and SECRET not in json.dumps(blocks)
    assert plan_specs(folder).pending == ()

    # what the worker renders from the pool's job template: the value, read from the block
    from prefect.client.orchestration import get_client
    from prefect.workers.process import ProcessJobConfiguration

    pool = server("GET", f"/work_pools/{name}-pool")

    async def rendered() -> dict:
        async with get_client() as client:
            config = await ProcessJobConfiguration.from_template_and_values(
                pool["base_job_template"], deployment["job_variables"], client=client
            )
        return config.env

    env = asyncio.run(rendered())
    assert env["API_TOKEN"] == SECRET and env["AUTH_HEADER"] == f"Bearer {SECRET}" and env["MODE"] == "fast"
    server("DELETE", f"/deployments/{deployment['id']}")


PARAMS_YAML = """\
name: params
deployments:
  - name: NAME-dep
    entrypoint: flows.py:job
    pull:
      - prefect.deployments.steps.set_working_directory:
          directory: /opt/app
    work_pool: {name: NAME-pool}
    parameters:
      api_token: "{{ $UNAME_API_TOKEN }}"
      header: "Bearer {{ $UNAME_API_TOKEN }}"
      region: "{{ $UNAME_REGION }}"
    schedules:
      - cron: "0 3 * * *"
        parameters: {api_token: "{{ $UNAME_API_TOKEN }}", region: eu}
"""


def test_secret_env_placeholder_in_parameters_is_not_carried_over_as_plain_text(tmp_path, cli, monkeypatch):
    """Prefect would resolve `{{ $X_API_TOKEN }}` in parameters at deploy time and store the
    value in the deployment's parameters in plain text; convert leaves it out with a located
    warning saying where to put it, and writes output that validates and applies."""
    name = f"par{uuid.uuid4().hex[:8]}"
    var, region = f"{name.upper()}_API_TOKEN", f"{name.upper()}_REGION"
    folder = tmp_path / name
    folder.mkdir()
    source = folder / "prefect.yaml"
    source.write_text(PARAMS_YAML.replace("UNAME", name.upper()).replace("NAME", name))
    (folder / "flows.py").write_text(
        "from prefect import flow\n\n@flow\ndef job(api_token: str = '', header: str = '', region: str = ''):\n"
        "    pass\n"
    )
    monkeypatch.setenv(var, SECRET)
    monkeypatch.setenv(region, "us-east-1")
    converted = cli("convert", str(source), "--out", str(folder), "--project", name)
    assert converted.exit_code == 0, converted.output
    assert SECRET not in converted.output
    for line, column in ((10, 7), (11, 7), (15, 22)):
        assert f"{source}:{line}:{column}: warning[convert.secret-plain-text]" in converted.output, converted.output
    assert "Secret block" in converted.output and f"from_env: {var}" in converted.output
    assert "(schedules.0.parameters.api_token)" in converted.output
    [dep] = [d for d in yaml.safe_load_all((folder / "deployments.yaml").read_text()) if d]
    assert dep["spec"]["parameters"] == {"region": f"<< env.{region} >>"}
    assert dep["spec"]["schedules"][0]["parameters"] == {"region": "eu"}
    project = yaml.safe_load((folder / "project.yaml").read_text())
    assert var not in project["spec"]["env"] and region in project["spec"]["env"]
    assert "sensitive" not in project["spec"]["env"][region]

    validated = cli("validate", str(folder))
    assert validated.exit_code == 0, validated.output
    server("POST", "/work_pools/", {"name": f"{name}-pool", "type": "process"})
    _, outcomes, _ = apply_specs(folder)
    assert all(o.ok for o in outcomes), outcomes
    deployment = server("GET", f"/deployments/name/job/{name}-dep")
    assert deployment["parameters"] == {"region": "us-east-1"} and SECRET not in json.dumps(deployment)
    server("DELETE", f"/deployments/{deployment['id']}")
