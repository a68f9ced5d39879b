"""Pure parts of the controller, and a checkout that is not clean (no server needed)."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
from pathlib import Path

from pipeform.reconciler.api import ServerAPI
from pipeform.sync.controller import Controller, Options, Step, backoff, decide
from pipeform.sync.listen import github_signature_ok, gitlab_token_ok, parse_listen
from pipeform.sync.status import Status, control_key, markdown, parse_markdown


def test_decide_applies_a_new_commit_checks_on_a_signal_or_resync_and_idles_otherwise():
    assert decide(True, False, False) is Step.APPLY
    assert decide(False, True, False) is Step.CHECK
    assert decide(False, False, True) is Step.CHECK
    assert decide(False, False, False) is Step.IDLE


def test_backoff_is_jittered_and_capped_at_the_interval():
    assert all(54 <= backoff(0, 60) <= 66 for _ in range(100))
    assert [round(backoff(n, 60)) <= 2 ** (n - 1) for n in (1, 2, 3)] == [True] * 3
    assert all(backoff(12, 10) <= 10 for _ in range(100))


def test_github_signature_and_gitlab_token():
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert github_signature_ok("k", body, good)
    assert not github_signature_ok("k", body + b" ", good)
    assert not github_signature_ok("other", body, good)
    assert not github_signature_ok(None, body, good)  # no secret configured: refused
    assert not github_signature_ok("k", body, None)
    assert gitlab_token_ok("t", "t") and not gitlab_token_ok("t", "u") and not gitlab_token_ok(None, "t")
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080) and parse_listen(":9") == ("0.0.0.0", 9)


def test_status_round_trips_through_the_artifact_markdown():
    s = Status("My.Proj", "prod", "failed", "t", "abc", "t0", "def", failures=("a.yaml:3:4: bad",))
    assert parse_markdown(markdown(s)) == s
    assert control_key("My.Proj", "prod") == "pipeform-sync-my-proj-prod"


def test_a_checkout_that_is_not_clean_is_refused(tmp_path):
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    work = tmp_path / "work"
    (work / "specs").mkdir(parents=True)
    (work / "specs" / "project.yaml").write_text(
        "apiVersion: pipeform/v1\nkind: Project\nmetadata: {name: x}\nspec: {}\n"
    )
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
    ctl = Controller(Options(str(work), path="specs"), ServerAPI("http://127.0.0.1:9"), tmp_path / "state")
    from pipeform.sync import source

    assert source.fetch(ctl.src) == sha
    loaded = ctl._load(sha)
    assert loaded.project is not None and loaded.project.name == "x"
    tree: Path = ctl.src.checkouts / sha
    (tree / "specs" / "extra.yaml").write_text(
        "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: v}\nspec: {value: 1}\n"
    )
    refused = ctl._load(sha)
    assert refused.project is None and "not a clean git working tree" in refused.problems[0]


def test_a_deployment_event_names_its_flow_and_deployment():
    from pipeform.sync.targeted import deployment_of

    event = {
        "event": "prefect.deployment.updated",
        "resource": {"prefect.resource.id": "prefect.deployment.1", "prefect.resource.name": "nightly run"},
        "related": [
            {
                "prefect.resource.id": "prefect.work-queue.2",
                "prefect.resource.name": "default",
                "prefect.resource.role": "work-queue",
            },
            {"prefect.resource.id": "prefect.flow.3", "prefect.resource.name": "etl", "prefect.resource.role": "flow"},
        ],
    }
    assert deployment_of(event) == "etl/nightly run"
    assert deployment_of({"resource": {"prefect.resource.name": "x"}, "related": []}) is None


def test_a_lease_expires_only_after_a_whole_lease_without_a_new_note():
    from pipeform.sync.leader import expired

    assert not expired(100.0, 105.9, 6.0) and expired(100.0, 106.0, 6.0)


def test_the_status_links_the_pages_of_the_deployments_written():
    s = Status(
        "p",
        None,
        "succeeded",
        "t",
        "abc",
        "t0",
        "abc",
        pages=("etl/nightly run http://ui/v2/deployments/deployment/1",),
    )
    text = markdown(s)
    assert "- [etl/nightly run](http://ui/v2/deployments/deployment/1)" in text
    assert parse_markdown(text) == s


def test_the_host_identity_comes_from_pipeform_host_id(monkeypatch):
    from pipeform.reconciler import lock

    monkeypatch.setenv("PIPEFORM_HOST_ID", "host-b")
    assert lock.host_id() == "host-b" and lock._me()["host"] == "host-b"
    # a holder with this pid but another host is never presumed dead
    assert not lock._holder_is_dead({"host": "host-a", "pid": 2**22 + 12345})
    monkeypatch.delenv("PIPEFORM_HOST_ID")
    assert lock._holder_is_dead({"host": lock.host_id(), "pid": 2**22 + 12345})
