"""Per-flow environments without a worker: pool types, job templates and job variables at
validate, resources per pool type (rendered by prefect-kubernetes's own job
configuration), locks from named files, uv using this machine's pip configuration,
Docker build contexts, environment garbage collection."""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform.environments import image, launch, lock, paths, pools, profiles, uvtool, venvs

BAD_K8S = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: k8s}
spec:
  type: kubernetes
  base_job_template:
    job_configuration:
      job_manifest:
        spec:
          backoffLimit: "two"
          template:
            spec:
              restartPolicy: Sometimes
              nodeSelectorr: {disk: ssd}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: typo}
spec:
  type: kubernets
"""


def _diags(cli, path) -> list[dict]:
    result = cli("validate", "--output", "json", path)
    assert result.exit_code == 1, result.output
    return json.loads(result.output)["diagnostics"]


def test_invalid_kubernetes_template_and_pool_type_typo_are_located_at_validate(cli, write):
    path = write("pools.yaml", BAD_K8S)
    found = {(d["code"], d["line"], d["column"]): d["message"] for d in _diags(cli, path)}
    assert ("work-pool.k8s-manifest", 10, 25) in found and "'two'" in found[("work-pool.k8s-manifest", 10, 25)]
    assert "Sometimes" in found[("work-pool.k8s-manifest", 13, 30)]
    assert "nodeSelectorr" in found[("work-pool.k8s-manifest", 14, 30)]
    typo = next(d for d in _diags(cli, path) if d["code"] == "work-pool.unknown-type")
    assert typo["line"] == 20 and typo["hint"] == "did you mean 'kubernetes'?"


def test_default_templates_of_every_known_type_pass_the_checks():
    assert {"process", "kubernetes", "docker", "ecs"} <= set(pools.known_types())
    from pipeform.environments.kubernetes import check_manifest

    assert list(check_manifest(pools.effective_template("kubernetes", {}))) == []


JOB_VARS = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: proc}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: e}
spec:
  resources: {cpu: "2", memory: 1Gi}
  job_variables: {cpu_request: "1"}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: d}
spec:
  entrypoint: f.py:f
  environment: e
  job_variables: {stream_output: "yes"}
  work_pool: {name: proc, job_variables: {working_dirr: /tmp}}
"""


def test_job_variables_and_resources_the_pool_cannot_take_are_located_errors(cli, write):
    found = {(d["code"], d["line"], d["column"]): d["message"] for d in _diags(cli, write("d.yaml", JOB_VARS))}
    assert "process work pool cannot set cpu" in found[("resources.unsupported", 10, 20)]
    assert "process work pool cannot set memory" in found[("resources.unsupported", 10, 33)]
    assert ("job-variables.unknown", 11, 19) in found  # cpu_request: a kubernetes variable
    assert "'yes' is not of type 'boolean'" in found[("job-variables.type", 19, 34)]
    assert "did you mean 'working_dir'" in found[("job-variables.unknown", 20, 43)]


def test_resources_map_to_each_pool_types_own_variables():
    k8s = pools.variables_schema(pools.effective_template("kubernetes", {}))
    assert profiles.resource_job_variables("kubernetes", {"cpu": "500m", "memory": "1Gi"}, k8s) == (
        {"cpu_request": "500m", "memory_request": "1Gi"},
        [],
    )
    docker = pools.variables_schema(pools.effective_template("docker", {}))
    jv, problems = profiles.resource_job_variables("docker", {"cpu": "2", "memory": "512Mi"}, docker)
    assert jv == {"mem_limit": "512m"} and [p[0] for p in problems] == [("cpu",)]
    ecs = pools.variables_schema(pools.effective_template("ecs", {}))
    assert profiles.resource_job_variables("ecs", {"cpu": "500m", "memory": "2Gi"}, ecs)[0] == {
        "cpu": 512,
        "memory": 2048,
    }
    jv, problems = profiles.resource_job_variables("kubernetes", {"gpu": 1}, k8s)
    assert jv == {} and problems[0][1] == "resources.unsupported"
    # A customised template without the variable: refused, not dropped.
    custom = {"properties": {"image": {"type": "string"}}}
    assert profiles.resource_job_variables("kubernetes", {"cpu": "1"}, custom)[1][0][1] == "resources.unsupported"


K8S_PROJECT = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-k8s}
spec: {type: kubernetes}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: big}
spec:
  image: ghcr.io/acme/etl:1
  resources: {cpu: 750m, memory: 3Gi}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: d}
spec:
  entrypoint: flow.py:f
  work_pool: {name: NAME-k8s}
  environment: big
"""


@pytest.mark.server
def test_resources_render_into_the_manifest_the_kubernetes_worker_submits(tmp_path, prefect_api):
    from prefect.client.schemas.objects import FlowRun
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    root, name = project_dir(tmp_path, K8S_PROJECT)
    (root / "flow.py").write_text("from prefect import flow\n\n@flow\ndef f():\n    pass\n")
    apply_specs(root)
    pool = server("GET", f"/work_pools/{name}-k8s")
    dep = server("GET", "/deployments/name/f/d")
    assert dep["job_variables"]["cpu_request"] == "750m" and dep["job_variables"]["memory_request"] == "3Gi"
    config = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(pool["base_job_template"], dep["job_variables"])
    )
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.UUID(dep["flow_id"]), name="r"))
    [container] = config.job_manifest["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"] == {"cpu": "750m", "memory": "3Gi"}
    assert container["image"] == "ghcr.io/acme/etl:1"


@pytest.mark.server
def test_job_variables_checked_against_a_pool_only_on_the_server_at_plan(tmp_path, cli, prefect_api):
    pool = f"srv-{uuid.uuid4().hex[:8]}"
    server("POST", "/work_pools/", {"name": pool, "type": "process"})
    body = (
        "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\n"
        f"spec:\n  entrypoint: flow.py:f\n  work_pool: {{name: {pool}, job_variables: {{image: x}}}}\n"
    )
    root, _ = project_dir(tmp_path, body)
    (root / "flow.py").write_text("from prefect import flow\n\n@flow\ndef f():\n    pass\n")
    result = cli("plan", root)
    assert result.exit_code == 1
    assert "job-variables.unknown" in result.output and "'image'" in result.output and "on the server" in result.output
    assert f"{root / 'project.yaml'}:11:51:" in result.output  # the job variable's key


def test_requirements_file_is_the_lock_input(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("six==1.16.0\n")
    a = lock.lock(lock.LockInput(file_name=str(req), file_text=req.read_text()))
    assert a.pins["six"] == "1.16.0" and a.pins["prefect"] == uvtool_version("prefect")
    b = lock.lock(lock.LockInput(file_name=str(req), file_text="six==1.17.0\n"))
    assert b.pins["six"] == "1.17.0" and b.hash != a.hash


def test_uv_lock_file_pins_are_used(tmp_path):
    proj = tmp_path / "userproj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "userproj"\nversion = "0"\ndependencies = ["six==1.16.0"]\n'
    )
    made = uvtool.run_uv("lock", "--quiet", "--project", str(proj))
    assert made.code == 0, made.stderr
    text = (proj / "uv.lock").read_text()
    got = lock.lock(lock.LockInput(file_name="uv.lock", file_text=text))
    assert got.pins["six"] == "1.16.0"


def uvtool_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def test_uv_gets_this_machines_pip_configuration(tmp_path, monkeypatch):
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nindex-url = https://mirror.example/simple\nextra-index-url = file:///opt/a file:///opt/b\n"
        "find-links = /opt/wheels\ntrusted-host = mirror.example\ncert = /etc/ca.pem\n"
    )
    for var in (
        *uvtool._UV_INDEX_VARS,
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "PIP_CERT",
        "SSL_CERT_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("HOME", str(tmp_path))  # no user pip.conf / uv.toml
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "none"))
    args = uvtool.index_args()
    assert args[:2] == ["--index-url", "https://mirror.example/simple"]
    assert args.count("--extra-index-url") == 2 and args[6:8] == ["--find-links", "/opt/wheels"]
    assert args[8:10] == ["--allow-insecure-host", "mirror.example"]
    assert args[-2:] == ["--index-strategy", "unsafe-best-match"]  # pip merges indexes; uv would not
    assert uvtool.uv_env()["SSL_CERT_FILE"] == "/etc/ca.pem"
    monkeypatch.setenv("PIP_INDEX_URL", "https://other.example/simple")
    assert uvtool.index_args()[:2] == ["--index-url", "https://other.example/simple"]
    monkeypatch.setenv("UV_INDEX_URL", "https://uv.example/simple")
    assert uvtool.index_args() == []  # uv's own setting wins, nothing translated


def test_docker_build_context_for_an_environment(tmp_path):
    proj = tmp_path / "proj"
    (proj / "flows").mkdir(parents=True)
    (proj / "flows" / "etl.py").write_text("x = 1\n")
    (proj / ".git").mkdir()
    (proj / ".git" / "HEAD").write_text("ref\n")
    locked = lock.make_lock(lock.lock_text("six==1.16.0\nprefect==3.8.8\n"))
    code = image.code_hash(str(proj))
    tag = image.image_tag("etl", locked, "registry.example/team", code)
    assert tag == f"registry.example/team/pipeform-env-etl:{locked.hash[:12]}-{code}"
    ctx = image.write_context(str(proj), locked, tag, tmp_path / "ctx")
    dockerfile = (ctx.path / "Dockerfile").read_text()
    assert (
        dockerfile.splitlines()[1] == f"FROM prefecthq/prefect:{md.version('prefect')}-python{paths.python_version()}"
    )
    for_312 = lock.make_lock(lock.lock_text("six==1.16.0\n", target=("3.12", "linux")))  # `python: "3.12"`
    assert image.dockerfile(for_312).splitlines()[1] == f"FROM prefecthq/prefect:{md.version('prefect')}-python3.12"
    assert "uv pip install --system --no-deps" in dockerfile and "-r /opt/pipeform/requirements.lock" in dockerfile
    assert (ctx.path / "requirements.lock").read_text() == locked.text
    assert list((ctx.path / "dist").glob("pipeform-*.whl"))
    assert (ctx.path / "project" / "flows" / "etl.py").is_file() and not (ctx.path / "project" / ".git").exists()
    (proj / "flows" / "etl.py").write_text("x = 2\n")
    assert image.code_hash(str(proj)) != code  # new code, new tag
    reason = image.docker_available()
    if reason:
        pytest.skip(f"context checked; not built: {reason}")
    image.build(ctx, push=False)


def test_gc_removes_unused_environments_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPEFORM_ENVIRONMENTS_DIR", str(tmp_path / "envs"))
    root = venvs.environments_dir()
    (root / "aaaa-111111").mkdir(parents=True)
    (root / "bbbb-111111").mkdir()
    (root / "bbbb-111111.used").touch()
    assert venvs.gc(max_idle_s=3600) == []  # server unknown: by idle time, both fresh
    assert venvs.gc({"bbbb"}) == []  # unreferenced "aaaa" is within its grace period
    held = launch.hold_in_use(str(root), "aaaa-111111")  # a run in progress in "aaaa"
    assert venvs.gc({"bbbb"}, grace_s=0) == [] and (root / "aaaa-111111").is_dir()
    os.close(held)
    assert venvs.gc({"bbbb"}, grace_s=0) == ["aaaa-111111"]  # referenced "bbbb" stays, whatever its age
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["bbbb-111111"]
    assert venvs.gc(set(), grace_s=0) == ["bbbb-111111"]


def test_a_lock_for_another_python_or_platform_is_refused_by_the_worker():
    here, plat = paths.python_version(), paths.this_platform()
    made = lock.lock_text("six==1.17.0\n", target=(here, plat))
    assert made.startswith(f"# pipeform-lock/1 python={here} platform={plat} prefect=")
    assert paths.target_mismatch(made) is None
    assert paths.target_mismatch(made.replace(f"python={here}", "python=3.99")) == (
        f"its lock was resolved for Python 3.99 (this worker runs Python {here}, {sys.executable})"
    )
    mac = paths.target_mismatch(made.replace(f"platform={plat}", "platform=macos"))
    assert mac.startswith("its lock was resolved for macos/aarch64 (this worker is linux/")
    # uv's shorthands and manylinux tags name the same OS and architecture as the triple
    assert paths.platform_family("linux") == paths.platform_family("x86_64-manylinux_2_28") == ("linux", "x86_64")


def test_python_and_platform_fields_are_checked_at_validate(cli, write):
    body = "apiVersion: pipeform/v1\nkind: Environment\nmetadata: {name: e}\nspec:\n  python: '3'\n  python_platform: linx\n"
    found = {(d["line"], d["column"]): d["message"] for d in _diags(cli, write("e.yaml", body))}
    assert (5, 11) in found and "3" in found[(5, 11)]
    assert (6, 20) in found and "linx" in found[(6, 20)]


@pytest.mark.server
def test_plan_shows_task_runner_plugin_in_the_environment(tmp_path, prefect_api):
    body = (
        "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: r}\nspec:\n  task_runner: {type: ray}\n"
        "  tasks: [{name: t, python: 'pipeform.compiler.builtins:identity', inputs: {value: 1}}]\n"
        "---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {flow: r, work_pool: {name: NAME-p}}\n"
    )
    root, _ = project_dir(tmp_path, body)
    [dep] = [c for c in plan_specs(root).pending if c.kind == "deployment"]
    env = dep.after["job_variables"]["env"]
    assert "prefect-ray==" in env["PIPEFORM_ENVIRONMENT_LOCK"] and dep.after["job_variables"]["command"].endswith(
        "launch"
    )


DOCKER_PROJECT = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-docker}
spec: {type: docker}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: rt}
spec:
  python_requirements: [six==1.16.0]
  registry: registry.example/team
  resources: {memory: 2Gi}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: d}
spec: {entrypoint: "flow.py:f", environment: rt, work_pool: {name: NAME-docker}}
"""


def test_docker_pool_deployment_gets_the_built_image_and_build_writes_its_context(tmp_path, cli):
    from pipeform.reconciler.desired import desired_state
    from pipeform.reconciler.inputs import gather_inputs
    from pipeform.spec import load_project_or_raise

    root, _ = project_dir(tmp_path, DOCKER_PROJECT)
    (root / "flow.py").write_text("from prefect import flow\n\n@flow\ndef f():\n    pass\n")
    project = load_project_or_raise([root])
    [dep] = [r for r in desired_state(gather_inputs(project)) if r.kind == "deployment"]
    jv = dep.body["job_variables"]
    locked = lock.lock(lock.LockInput(requirements=("six==1.16.0",)))
    assert jv["image"] == image.image_tag("rt", locked, "registry.example/team", image.code_hash(str(root)))
    assert jv["mem_limit"] == "2g" and "command" not in jv  # the image is the environment
    assert dep.body["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/project"}}
    ]
    assert ".env." + locked.hash[:12] in dep.body["version"]

    out = tmp_path / "build"
    result = cli("build", root, "--out", out)
    [ctx] = list(out.iterdir())
    assert (ctx / "requirements.lock").read_text() == locked.text
    assert (ctx / "project" / "flow.py").is_file()
    if image.docker_available() is None:
        assert result.exit_code == 0, result.output
    else:  # no daemon here: the context is written and checked above, the build refused with the reason
        assert result.exit_code == 1 and "not built" in result.output and image.docker_available() in result.output


def test_pyproject_dependencies_are_the_lock_input(tmp_path):
    text = '[project]\nname = "x"\nversion = "0"\ndependencies = ["tabulate==0.8.10"]\n'
    got = lock.lock(lock.LockInput(file_name="pyproject.toml", file_text=text))
    assert got.pins["tabulate"] == "0.8.10" and "-r pyproject.toml" in got.text.splitlines()[1]


def test_build_reports_a_lock_problem_as_a_located_diagnostic(tmp_path, cli):
    """Not `error: FILE:L:C: error  ...` (the exception's text behind die's own prefix)."""
    body = DOCKER_PROJECT.replace("python_requirements: [six==1.16.0]", "requirements_file: missing.txt")
    root, _ = project_dir(tmp_path, body)
    result = cli("build", root, "--no-push", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "project.yaml:" in result.output and "error[environment.file]" in result.output, result.output
    assert not result.output.startswith("error: ") and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


SECRET_BUILD_PROJECT = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: NAME}
spec:
  env:
    PF_TEST_BUILD_SECRET: {sensitive: true}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: NAME_token}
spec:
  value: << env.PF_TEST_BUILD_SECRET | default('unset-token') >>
  sensitive: true
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-docker}
spec: {type: docker}
---
apiVersion: pipeform/v1
kind: Environment
metadata: {name: rt}
spec:
  python_requirements: [six==1.16.0]
  env:
    API_TOKEN: {from_env: PF_TEST_BUILD_SECRET}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: d}
spec: {entrypoint: "flow.py:f", environment: rt, work_pool: {name: NAME-docker}}
"""


def test_build_needs_no_secret_and_writes_none(tmp_path, cli, monkeypatch):
    """build loads the project as validate does: an unset sensitive variable (needed at
    apply only) is no error, and when it is set its value is in no file written."""
    name = f"t{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "pipeform.yaml").write_text(SECRET_BUILD_PROJECT.replace("NAME", name))
    (root / "flow.py").write_text("from prefect import flow\n\n@flow\ndef f():\n    pass\n")
    built = image.docker_available() is None
    marker = f"pf-build-marker-{uuid.uuid4().hex}"

    def build(out: Path) -> Path:
        result = cli("build", root, "--no-push", "--out", out)
        assert "env.unset" not in result.output and "Traceback" not in result.output, result.output
        assert marker not in result.output
        assert result.exit_code == 0 if built else result.exit_code == 1 and "not built" in result.output
        [ctx] = list(out.iterdir())
        assert (ctx / "Dockerfile").read_text().startswith(f"# {image.IMAGE_FORMAT}")
        assert (ctx / "project" / "pipeform.yaml").is_file()
        return out

    monkeypatch.delenv("PF_TEST_BUILD_SECRET", raising=False)
    build(tmp_path / "unset")
    monkeypatch.setenv("PF_TEST_BUILD_SECRET", marker)
    out = build(tmp_path / "set")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and [p for p in files if marker.encode() in p.read_bytes()] == []


def test_a_credentialed_index_url_is_never_written_into_a_dockerfile(tmp_path, monkeypatch):
    for var in (*uvtool._UV_INDEX_VARS, "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user pip.conf / uv.toml
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "none"))
    locked = lock.make_lock(lock.lock_text("six==1.16.0\n"))
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    assert "--index-url https://mirror.example/simple" in image.dockerfile(locked)
    monkeypatch.setenv("PIP_INDEX_URL", "https://ci:tok-s3cret@mirror.example/simple")
    with pytest.raises(image.BuildError) as refused:
        image.write_context(str(tmp_path), locked, "t:1", tmp_path / "ctx")
    assert "mirror.example" in str(refused.value) and "s3cret" not in str(refused.value)
    assert not (tmp_path / "ctx").exists()
