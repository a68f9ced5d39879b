"""deploy/kubernetes: the GitOps CronJob that runs `pipeform apply` in-cluster.

Manifests are checked offline against the official Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields are errors); the CronJob's own script is run
here against the session's real Prefect server. Tests that need a cluster run only with
PIPEFORM_K8S_CONTEXT set.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes minor we document support for, and the newest the validator knows.
OLDEST = "1.27.0"

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra) not installed")


def _newest() -> str:
    from kubernetes_validate.utils import latest_version

    return latest_version()


def manifests() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":  # kustomize's own config, not an API object
                docs.append((path.name, doc))
    return docs


def by_kind(kind: str) -> dict:
    found = [doc for _, doc in manifests() if doc["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


@pytest.mark.parametrize("version", [OLDEST, "latest"])
def test_every_manifest_matches_the_kubernetes_schema(version):
    version = _newest() if version == "latest" else version
    docs = manifests()
    assert {doc["kind"] for _, doc in docs} >= {"ServiceAccount", "ConfigMap", "Secret", "CronJob"}
    for name, doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError with the path
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "pipeform", name


def test_strict_validation_rejects_unknown_fields():
    """The check above is live: a misspelt field in the pod template fails it."""
    cronjob = copy.deepcopy(by_kind("CronJob"))
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["envfrom"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, OLDEST, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_cronjob_wiring():
    cronjob = by_kind("CronJob")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"  # never two applies from the same job
    assert pod["serviceAccountName"] == by_kind("ServiceAccount")["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    config, secret = by_kind("ConfigMap")["metadata"]["name"], by_kind("Secret")["metadata"]["name"]
    volumes = {v["name"] for v in pod["volumes"]}
    for container in pod["initContainers"] + pod["containers"]:
        refs = {(k, v["name"]) for e in container["envFrom"] for k, v in e.items()}
        assert refs == {("configMapRef", config), ("secretRef", secret)}
        assert {m["name"] for m in container["volumeMounts"]} <= volumes
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    sync = pod["initContainers"][0]
    assert "--one-time" in sync["args"] and "--link=current" in sync["args"]
    data = by_kind("ConfigMap")["data"]
    assert {"PREFECT_API_URL", "GITSYNC_REPO", "GITSYNC_REF", "PIPEFORM_SPEC_PATH", "PIPEFORM_ENV"} <= set(data)


def _job_script() -> str:
    return by_kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]


GITOPS_PROJECT = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: gitops-job-test}
spec:
  values: {pool_limit: 1, bucket: s3://dev}
  overlays:
    prod: {values: {pool_limit: 7, bucket: s3://prod}}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: gitops-job-pool}
spec: {type: process, concurrency_limit: << values.pool_limit >>}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: gitops_job_bucket}
spec: {value: << values.bucket >>}
"""


def _job_env(**overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        **by_kind("ConfigMap")["data"],
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **overrides,
    }


@pytest.mark.server
@pytest.mark.slow
def test_cronjob_script_applies_the_checkout_and_is_idempotent(prefect_api, tmp_path):
    """The container's exact shell script, with git-sync's checkout replaced by a local folder."""
    checkout = tmp_path / "git" / "current"
    (checkout / "specs").mkdir(parents=True)
    (checkout / "specs" / "pipeline.yaml").write_text(GITOPS_PROJECT)
    env = _job_env(PREFECT_API_URL=prefect_api, PIPEFORM_SPEC_PATH="specs", PIPEFORM_ENV="prod")
    script = _job_script().replace("/git/current", str(checkout))
    first = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stdout + first.stderr
    import httpx

    # The prod overlay reached the server.
    assert httpx.get(f"{prefect_api}/work_pools/gitops-job-pool", timeout=30).json()["concurrency_limit"] == 7
    variable = httpx.get(f"{prefect_api}/variables/name/gitops_job_bucket", timeout=30).json()
    assert variable["value"] == "s3://prod"
    # The next pass over an unchanged checkout is a no-op, and plan agrees.
    second = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stdout + second.stderr
    plan = subprocess.run(
        ["pipeform", "plan", "--detailed-exitcode", "--env", "prod", str(checkout / "specs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_cronjob_script_fails_on_invalid_specs(tmp_path):
    """A broken commit stops at `pipeform validate`: the Job fails, nothing is applied."""
    checkout = tmp_path / "git" / "current" / "specs"
    checkout.mkdir(parents=True)
    (checkout / "bad.yaml").write_text("apiVersion: pipeform/v1\nkind: WorkPool\nmetadata: {name: p}\nspec: {}\n")
    env = _job_env(PREFECT_API_URL="http://127.0.0.1:9/api")  # unreachable: apply must never be attempted
    script = _job_script().replace("/git/current", str(checkout.parent)).replace('--env "$PIPEFORM_ENV" ', "")
    result = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad.yaml" in result.stdout + result.stderr


@pytest.mark.skipif(
    not os.environ.get("PIPEFORM_K8S_CONTEXT"), reason="needs a Kubernetes cluster: set PIPEFORM_K8S_CONTEXT"
)
def test_server_side_dry_run_in_a_cluster():
    kubectl = shutil.which("kubectl")
    assert kubectl, "PIPEFORM_K8S_CONTEXT is set but kubectl is not on PATH"
    result = subprocess.run(
        [kubectl, "--context", os.environ["PIPEFORM_K8S_CONTEXT"], "apply", "--dry-run=server", "-k", str(KUBE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
