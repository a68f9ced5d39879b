"""Fidelity on the real server: for real prefect.yaml files (with small stand-in flow files
for their entrypoints), `prefect deploy --all` and `pipeform convert` + `pipeform apply`
store the same deployments, and the next plan is empty. The adoption path (prefect deploy,
then convert + apply --adopt) keeps the deployment ids.

Deliberate differences: a schedule without a slug gets pipeform's `schedule-<n>` slug
(pipeform matches schedules by slug), where prefect deploy stores none; a schedule without
a time zone is stored with "UTC", where prefect deploy stores none (Prefect reads none as UTC).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from server_helpers import server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

# The corpus stays in the shared folder beside the repository (its SOURCES.md: input only, not
# to be copied into pipeform's source); PIPEFORM_PREFECT_YAML_CORPUS names another copy.
CORPUS = Path(
    os.environ.get("PIPEFORM_PREFECT_YAML_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus" / "prefect-yaml"
)
if not CORPUS.is_dir():
    pytest.skip(
        f"the prefect.yaml corpus is not at {CORPUS} (set PIPEFORM_PREFECT_YAML_CORPUS)", allow_module_level=True
    )
FILES = {
    "cybergov": "KarimJedda__cybergov__prefect.yaml",
    "crdm": "uclh-criu__crdm-tools__prefect.yaml",
    "omnipy": "fairtracks__omnipy_examples__prefect.yaml",
    "war": "Kyytox__russia_ukraine_war_analytics_hub__prefect.yaml",
    "integration": "PrefectHQ__integration-tests__prefect.yaml",
}
OWNER_PREFIX = "pipeform:"


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PWD": str(cwd), "PREFECT_CLI_PROMPT": "false"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _project(tmp_path: Path, key: str) -> tuple[Path, list[dict[str, Any]]]:
    """A project folder: the prefect.yaml and a stand-in flow file per entrypoint, whose
    functions take the parameters the deployments pass and carry the flow_name they declare."""
    folder = tmp_path / key
    folder.mkdir()
    shutil.copy(CORPUS / FILES[key], folder / "prefect.yaml")
    deployments = yaml.safe_load((folder / "prefect.yaml").read_text())["deployments"]
    functions: dict[tuple[str, str], tuple[set[str], str | None]] = {}
    for dep in deployments:
        path, func = dep["entrypoint"].rsplit(":", 1)
        params = set(dep.get("parameters") or {})
        scheds = dep.get("schedules") or ([dep["schedule"]] if dep.get("schedule") else [])
        params |= {p for s in scheds if isinstance(s, dict) for p in (s.get("parameters") or {})}
        known, name = functions.get((path, func), (set(), None))
        functions[(path, func)] = (known | params, name or dep.get("flow_name"))
    for (path, func), (params, name) in functions.items():
        file = folder / path
        file.parent.mkdir(parents=True, exist_ok=True)
        head = file.read_text() if file.exists() else "from prefect import flow\n"
        args = ", ".join(f"{p}=None" for p in sorted(params))
        deco = f"@flow(name={name!r})" if name else "@flow"
        doc = f'"""Stand-in for {func}.\n\n    Its docstring is the flow\'s description."""'  # prefect deploy's default description
        file.write_text(f"{head}\n\n{deco}\ndef {func}({args}):\n    {doc}\n    return None\n")
    pools: dict[str, set[str]] = {}
    for d in deployments:
        if (d.get("work_pool") or {}).get("name"):
            variables = d["work_pool"].get("job_variables") or {}
            pools.setdefault(d["work_pool"]["name"], set()).update(variables)
    for pool, variables in pools.items():
        with contextlib.suppress(httpx.HTTPStatusError):  # already there from an earlier test
            server("POST", "/work_pools/", _pool_body(pool, variables))
    return folder, deployments


def _pool_body(name: str, variables: set[str]) -> dict[str, Any]:
    """A pool as `prefect work-pool create` makes it: the worker type's default job template
    (pipeform checks job variables against it), kubernetes where the deployments' job
    variables need it (no cluster is contacted)."""
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    if variables <= set(template["variables"]["properties"]):
        return {"name": name, "type": "process", "base_job_template": template}
    from prefect_kubernetes.worker import KubernetesWorker

    return {"name": name, "type": "kubernetes", "base_job_template": KubernetesWorker.get_default_base_job_template()}


def _snapshot(names: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    deps = server("POST", "/deployments/filter", {"deployments": {"name": {"any_": sorted(names)}}})
    flows = {f["id"]: f["name"] for f in server("POST", "/flows/filter", {})}
    out = {}
    for d in deps:
        gcl = d.get("global_concurrency_limit") or {}
        out[(flows[d["flow_id"]], d["name"])] = {
            "id": d["id"],
            "entrypoint": d["entrypoint"],
            "description": d["description"],
            "parameter_schema": d["parameter_openapi_schema"],
            "parameters": d["parameters"],
            "pool": d["work_pool_name"],
            "queue": d["work_queue_name"],
            "job_variables": d["job_variables"],
            "pull_steps": d["pull_steps"],
            "tags": sorted(t for t in d["tags"] if not t.startswith(OWNER_PREFIX)),
            "concurrency": (gcl.get("limit"), (d.get("concurrency_options") or {}).get("collision_strategy")),
            "schedules": sorted(
                (
                    s["slug"],
                    # (anchor_date left out: none of these files sets one; the server stamps the creation time)
                    tuple(
                        sorted(
                            (k, str(v))
                            for k, v in {"timezone": "UTC", **_set(s["schedule"])}.items()
                            if k != "anchor_date"
                        )
                    ),
                    s["active"],
                    str(sorted((s.get("parameters") or {}).items())),
                )
                for s in d["schedules"]
            ),
        }
    return out


def _set(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _same(prefect: dict, pipeform: dict) -> None:
    assert set(prefect) == set(pipeform)  # flow names and deployment names
    for key, want in prefect.items():
        got = dict(pipeform[key])
        want = dict(want)
        want.pop("id"), got.pop("id")
        # prefect deploy leaves unnamed schedules without a slug; pipeform names them schedule-<n>
        want["schedules"] = [s if s[0] else (got["schedules"][i][0], *s[1:]) for i, s in enumerate(want["schedules"])]
        assert got == want, key


def _delete(snapshot: dict) -> None:
    for d in snapshot.values():
        server("DELETE", f"/deployments/{d['id']}")


def _convert_and(folder: Path, project: str, *apply_args: str) -> subprocess.CompletedProcess:
    pipeform = [sys.executable, "-m", "pipeform"]
    converted = _run([*pipeform, "convert", "prefect.yaml", "--out", ".", "--project", project], folder)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    return _run([*pipeform, "apply", ".", "--auto-approve", *apply_args], folder)


@pytest.mark.parametrize("key", sorted(FILES))
def test_prefect_deploy_and_pipeform_apply_store_the_same_deployments(tmp_path, key):
    folder, deployments = _project(tmp_path, key)
    names = {d["name"] for d in deployments}
    deployed = _run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], folder)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    by_prefect = _snapshot(names)
    assert len(by_prefect) == len(deployments)
    _delete(by_prefect)

    applied = _convert_and(folder, f"fid-{key}-{uuid.uuid4().hex[:6]}")
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    by_pipeform = _snapshot(names)
    _same(by_prefect, by_pipeform)
    again = _run([sys.executable, "-m", "pipeform", "plan", ".", "--detailed-exitcode"], folder)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    _delete(by_pipeform)


def _scheduled_runs(ids: list[str]) -> int:
    runs = server(
        "POST",
        "/flow_runs/filter",
        {"flow_runs": {"deployment_id": {"any_": ids}, "state": {"type": {"any_": ["SCHEDULED"]}}}, "limit": 200},
    )
    return len(runs)


def test_adoption_keeps_deployment_ids_and_scheduled_runs(tmp_path):
    folder, deployments = _project(tmp_path, "integration")
    names = {d["name"] for d in deployments}
    deployed = _run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], folder)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    before = _snapshot(names)
    ids = [v["id"] for v in before.values()]
    deadline = time.monotonic() + 60
    while _scheduled_runs(ids) == 0 and time.monotonic() < deadline:  # the scheduler runs every 2 s here
        time.sleep(0.5)
    assert _scheduled_runs(ids) > 0
    adopted = _convert_and(folder, f"adopt-{uuid.uuid4().hex[:6]}", "--adopt")
    assert adopted.returncode == 0, adopted.stdout[-3000:] + adopted.stderr[-3000:]
    after = _snapshot(names)
    assert {k: v["id"] for k, v in after.items()} == {k: v["id"] for k, v in before.items()}
    _same(before, after)
    # Prefect deletes a deployment's auto-scheduled runs on any update; its schedules (kept,
    # same ids) make them again: the deployments keep having scheduled runs.
    deadline = time.monotonic() + 60
    while _scheduled_runs(ids) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _scheduled_runs(ids) > 0
    again = _run([sys.executable, "-m", "pipeform", "plan", ".", "--detailed-exitcode"], folder)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    _delete(after)


METHOD_FLOWS = '''\
from prefect import flow


class Reports:
    """Reports."""

    @flow(name="Weekly Report")
    @staticmethod
    def weekly(week: int = 1, team: str = "data"):
        """Builds the weekly report.

        Args:
            week: ISO week number
        """
        return week

    @flow
    @classmethod
    def monthly_summary(cls, month: int = 1):
        """Sums the month up."""
        return month
'''


def test_class_method_entrypoints_as_prefect_deploy_stores_them(tmp_path):
    """`file.py:Class.method` and `pkg.mod:Class.method` (Prefect's import_object follows the
    attribute path): prefect deploy and convert + apply store the same flow names,
    entrypoints, descriptions and parameter schemas, and the next plan is empty."""
    tag = uuid.uuid4().hex[:6]
    folder = tmp_path / "methods"
    (folder / "pkg").mkdir(parents=True)
    (folder / "flows.py").write_text(METHOD_FLOWS)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "reports.py").write_text(METHOD_FLOWS)
    pool = f"methods-{tag}"
    server("POST", "/work_pools/", _pool_body(pool, set()))
    deployments = [
        {"name": f"weekly-{tag}", "entrypoint": "flows.py:Reports.weekly", "parameters": {"week": 3}},
        {"name": f"monthly-{tag}", "entrypoint": "pkg.reports:Reports.monthly_summary"},
    ]
    for d in deployments:
        d["work_pool"] = {"name": pool}
    (folder / "prefect.yaml").write_text(yaml.safe_dump({"name": "methods", "deployments": deployments}))
    names = {d["name"] for d in deployments}
    deployed = _run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], folder)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    by_prefect = _snapshot(names)
    assert set(by_prefect) == {("Weekly Report", f"weekly-{tag}"), ("monthly-summary", f"monthly-{tag}")}
    assert set(by_prefect[("Weekly Report", f"weekly-{tag}")]["parameter_schema"]["properties"]) == {"week", "team"}
    _delete(by_prefect)

    applied = _convert_and(folder, f"methods-{tag}")
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    by_pipeform = _snapshot(names)
    _same(by_prefect, by_pipeform)
    again = _run([sys.executable, "-m", "pipeform", "plan", ".", "--detailed-exitcode"], folder)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    _delete(by_pipeform)
