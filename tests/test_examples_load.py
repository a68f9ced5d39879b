"""Every example folder is one valid project showing what examples/README.md says it shows."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from pipeform.spec import load_project

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FOLDERS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def load(folder: str, env: str | None = None):
    project, diagnostics = load_project([EXAMPLES / folder], env=env)
    assert project is not None and diagnostics == [], [str(d) for d in diagnostics]
    return project


def test_the_four_examples_exist_and_are_documented():
    assert {"quickstart", "etl", "multi-env", "all-kinds"} <= set(FOLDERS)
    readme = (EXAMPLES / "README.md").read_text()
    for folder in FOLDERS:
        assert f"`{folder}/`" in readme, folder


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_folder_is_one_clean_project(folder):
    project = load(folder)
    projects = [d for d in project.documents if d.kind == "Project"]
    assert len(projects) == 1 and project.name == projects[0].metadata.name
    assert Path(project.root) == (EXAMPLES / folder).resolve()


def test_project_names_are_distinct():
    names = [load(folder).name for folder in FOLDERS]
    assert len(set(names)) == len(names), names


def test_validate_command_accepts_all_examples_at_once(cli):
    result = cli("validate", EXAMPLES)
    assert result.exit_code == 0, result.output


def test_quickstart_keeps_its_names():
    project = load("quickstart")
    assert set(project.flows) == {"hello"}
    dep = project.deployments["hello-every-hour"].spec
    assert dep.flow == "hello" and dep.work_pool.name == "quickstart-pool" and len(dep.schedules) == 1
    assert project.work_pools["quickstart-pool"].spec.type == "process"


def test_etl_shows_what_it_promises():
    project = load("etl")
    flow = project.flows["orders-etl"].spec
    params = flow.parameters
    assert params["mode"].enum == ["full", "incremental"] and params["mode"].default == "incremental"
    assert params["sources"].type == "array" and params["day"].format == "date"
    tasks = {t.name: t for t in flow.tasks}
    assert tasks["extract"].map and tasks["clean"].map
    assert tasks["extract"].cache.policy == "inputs" and tasks["extract"].cache.expiration_seconds
    assert tasks["load"].retry_delay_seconds.backoff == "exponential"
    assert tasks["report"].when
    assert any(t.shell for t in flow.tasks)
    assert flow.task_defaults.tags and project.defaults.task.retries is not None
    assert flow.hooks.on_failure
    assert (EXAMPLES / "etl" / "etl_tasks" / "__init__.py").is_file()


def test_all_kinds_has_every_kind_and_every_deployment_field():
    project = load("all-kinds")
    kinds = {d.kind for d in project.documents}
    assert kinds == {
        "Project",
        "Flow",
        "Deployment",
        "WorkPool",
        "ConcurrencyLimit",
        "Variable",
        "Environment",
        "Automation",
        "Block",
    }
    task_kinds = {
        kind
        for flow in project.flows.values()
        for task in flow.spec.tasks
        for kind in ("python", "shell", "subflow", "deployment", "approval")
        if getattr(task, kind) is not None
    }
    assert task_kinds == {"python", "shell", "subflow", "deployment", "approval"}

    dep = project.deployments["every-task-kind-prod"].spec
    assert {"cron", "interval", "rrule"} == {
        k for s in dep.schedules for k in ("cron", "interval", "rrule") if getattr(s, k) is not None
    }
    assert all(s.slug and s.timezone for s in dep.schedules)
    assert any(not s.active for s in dep.schedules) and any(s.parameters for s in dep.schedules)
    assert dep.concurrency_limit.collision_strategy == "CANCEL_NEW"
    assert dep.tags and dep.description and dep.version and dep.paused is False and dep.enforce_parameter_schema
    assert dep.source.git.repository and dep.job_variables and dep.work_pool.job_variables
    assert dep.environment in project.environments

    by_entrypoint = [d.spec for d in project.deployments.values() if d.spec.entrypoint]
    assert by_entrypoint and (EXAMPLES / "all-kinds" / by_entrypoint[0].entrypoint.split(":")[0]).is_file()

    pool = project.work_pools["all-kinds-pool"].spec
    assert pool.queues and pool.base_job_template
    limits = [d.spec for d in project.concurrency_limits.values()]
    assert any(lim.slot_decay_per_second for lim in limits) and any(lim.tag for lim in limits)
    assert {v.spec.sensitive for v in project.variables.values()} == {True, False}
    env = project.environments["all-kinds-runtime"].spec
    assert env.python_requirements and any(not isinstance(v, str) and v.from_env for v in env.env.values())
    k8s = project.environments["all-kinds-k8s-runtime"].spec
    assert k8s.image and k8s.resources.cpu and k8s.resources.memory


@pytest.mark.parametrize(
    ("env", "bucket", "limit", "active", "retries"),
    [
        (None, "s3://acme-dev", 2, False, 0),
        ("dev", "s3://acme-dev", 2, False, 0),
        ("prod", "s3://acme-prod", 10, True, 3),
    ],
)
def test_multi_env_overlay_values_reach_every_document(env, bucket, limit, active, retries):
    project = load("multi-env", env=env)
    assert project.env == env
    assert project.work_pools["multi-env-pool"].spec.concurrency_limit == limit  # stays an integer
    assert project.variables["multi_env_bucket"].spec.value == bucket
    flow = project.flows["export"].spec
    assert flow.retries == retries
    assert flow.parameters["target"].default == f"{bucket}/exports"
    assert project.deployments["export-hourly"].spec.schedules[0].active is active


def test_multi_env_unknown_overlay_is_a_located_error():
    project, diagnostics = load_project([EXAMPLES / "multi-env"], env="staging")
    assert project is None
    assert [d.code for d in diagnostics] == ["project.unknown-env"]
    assert diagnostics[0].origin.file.endswith("project.yaml") and diagnostics[0].origin.line > 0


def test_validate_with_env_prod(cli):
    assert cli("validate", "--env", "prod", EXAMPLES / "multi-env").exit_code == 0
    assert cli("validate", "--env", "staging", EXAMPLES / "multi-env").exit_code == 1


def _task_states(api: str, state) -> dict[str, list[str]]:
    """Task name -> state names of its runs (task runs are named NAME-xyz)."""
    body = {"flow_runs": {"id": {"any_": [str(state.state_details.flow_run_id)]}}, "limit": 200}
    # Task-run states reach the server through Prefect's event stream, after the flow run has
    # returned: under load the last ones may still be missing or Pending. Read until every
    # state is final and two reads agree.
    final = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
    deadline = time.monotonic() + 60
    previous = None
    while True:
        runs = httpx.post(f"{api}/task_runs/filter", json=body, timeout=30).json()
        current = sorted((r["id"], r["state_type"]) for r in runs)
        if (current == previous and all(t in final for _, t in current)) or time.monotonic() > deadline:
            break
        previous = current
        time.sleep(0.5)
    found: dict[str, list[str]] = {}
    for run in runs:
        found.setdefault(run["name"].rsplit("-", 1)[0], []).append(run["state"]["name"])
    return found


@pytest.mark.server
def test_etl_runs_fast_deterministically_with_cache_and_condition(prefect_api):
    from pipeform.compiler import compile_flow

    project = load("etl")
    flow = compile_flow(project, "orders-etl")
    import etl_tasks  # importable now: the compiler put the project root on sys.path

    day = f"2025-{time.time_ns() % 12 + 1:02d}-{time.time_ns() % 28 + 1:02d}"  # fresh cache keys in this session
    sources = ["web", "store", "partners"]  # the parameter's default
    expected = etl_tasks.load(
        [etl_tasks.clean(etl_tasks.fetch(s, day), minimum=1) for s in sources], "analytics.orders"
    )
    started = time.monotonic()
    first = flow(day=day, return_state=True)
    elapsed = time.monotonic() - started
    assert first.is_completed(), first
    assert first.result() == expected
    assert elapsed < 15, f"the ETL example took {elapsed:.1f}s"
    states = _task_states(prefect_api, first)
    assert states["report"] == ["Skipped"]  # mode defaults to incremental: the `when` is false
    assert sorted(states["extract"]) == ["Completed"] * 3  # one mapped run per source

    second = flow(day=day, mode="full", return_state=True)
    assert second.is_completed() and second.result() == expected
    states = _task_states(prefect_api, second)
    assert states["report"] == ["Completed"]
    assert states["extract"] == ["Cached"] * 3  # same inputs within the expiration: served from the cache


def test_examples_are_canonically_formatted(cli):
    result = cli("fmt", "--check", EXAMPLES)
    assert result.exit_code == 0, result.output
