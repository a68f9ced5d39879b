"""`pipeform sync` as a real controller process against the session's real Prefect server
and real git repositories (a bare repository is the remote)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from server_helpers import server

from pipeform.server import free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]

FLOW = "from prefect import flow\n\n\n@flow\ndef shout(word: str = 'hi') -> str:\n    return word.upper()\n"
SECRET = "s3cret-hook"


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def project_doc(name: str) -> str:
    return f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n"


def deployment_doc(name: str, description: str = "v1", schedule: bool = False) -> str:
    text = (
        f"apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {{name: {name}}}\n"
        f"spec:\n  entrypoint: flows.py:shout\n  description: {description}\n"
    )
    return text + ("  schedules:\n    - {interval: 3600, slug: hourly}\n" if schedule else "")


class Repo:
    """A working repository pushing to a bare one (the controller's --repo)."""

    def __init__(self, tmp: Path, name: str):
        self.name = name
        self.remote = tmp / "remote.git"
        self.work = tmp / "work"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(self.remote))
        git(tmp, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", str(self.remote))

    def push(self, files: dict[str, str | None], message: str = "change") -> str:
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", message)
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    name = "sy" + uuid.uuid4().hex[:8]
    r = Repo(tmp_path, name)
    r.first = r.push(
        {
            "specs/project.yaml": project_doc(name),
            "specs/a.yaml": deployment_doc(f"{name}-a", schedule=True),
            "specs/b.yaml": deployment_doc(f"{name}-b"),
            "specs/flows.py": FLOW,
            "README.md": "hello\n",
        },
        "first",
    )
    return r


class Ctl:
    def __init__(self, proc: subprocess.Popen, log: Path, port: int | None):
        self.proc, self.log, self.port = proc, log, port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def text(self) -> str:
        return self.log.read_text()


@contextmanager
def controller(tmp_path: Path, repo: Repo, *args: str, listen: bool = False, tag: str = "c"):
    port = free_port() if listen else None
    log = tmp_path / f"controller-{tag}.log"
    cmd = [sys.executable, "-m", "pipeform", "sync", "--repo", str(repo.remote), "--path", "specs", *args]
    if listen:
        cmd += ["--listen", f"127.0.0.1:{port}"]
    env = {**os.environ, "PIPEFORM_STATE_DIR": str(tmp_path / f"state-{tag}"), "PIPEFORM_GITHUB_WEBHOOK_SECRET": SECRET}
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    ctl = Ctl(proc, log, port)
    try:
        if listen:
            wait_for(lambda: _get(ctl.url("/healthz")) == 200, 60, ctl)
        yield ctl
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def _get(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None


def wait_for(check, timeout: float, ctl: Ctl | None = None, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s" + (f"; controller log:\n{ctl.text()}" if ctl else ""))
        time.sleep(step)


def status(project: str) -> dict | None:
    from pipeform.sync.status import control_key, parse_markdown

    r = httpx.get(f"{os.environ['PREFECT_API_URL']}/artifacts/{control_key(project, None)}/latest", timeout=30)
    if r.status_code == 404:
        return None
    found = parse_markdown(r.json()["data"])
    return json.loads(json.dumps(found.to_json())) if found else None


def live(project: str, sha: str):
    return lambda: (s := status(project)) is not None and s["live_commit"] == sha and s


def dep(name: str) -> dict | None:
    r = httpx.get(f"{os.environ['PREFECT_API_URL']}/deployments/name/shout/{name}", timeout=30)
    return None if r.status_code == 404 else r.json()


def events(name: str, project: str) -> list[dict]:
    """Events of that name whose resource is the project, as stored by the server."""
    flt = {
        "event": {"name": [name]},
        "resource": {"id": [f"pipeform.project.{project}"]},
        "occurred": {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
    }
    return server("POST", "/events/filter", {"filter": flt, "limit": 50})["events"]


def scheduled_runs(dep_id: str) -> list[str]:
    body = {"flow_runs": {"deployment_id": {"any_": [dep_id]}, "state": {"type": {"any_": ["SCHEDULED"]}}}}
    return sorted(r["id"] for r in server("POST", "/flow_runs/filter", body))


def test_commits_are_synced_readme_writes_nothing_broken_is_refused_and_prune(tmp_path, repo, prefect_api):
    a, b = f"{repo.name}-a", f"{repo.name}-b"
    with controller(tmp_path, repo, "--interval", "3", "--prune", listen=True) as ctl:
        # the first commit is live within one interval (plus the apply itself)
        wait_for(live(repo.name, repo.first), 60, ctl)
        first = dep(a)
        assert first["description"] == "v1" and dep(b) is not None
        schedules = [s["id"] for s in first["schedules"]]
        runs = wait_for(lambda: scheduled_runs(first["id"]), 30)

        # a README-only commit: live, and nothing written (same updated, schedule ids, runs)
        readme = repo.push({"README.md": "docs only\n"}, "docs")
        wait_for(live(repo.name, readme), 60, ctl)
        assert status(repo.name)["changes"] == []
        again = dep(a)
        assert again["updated"] == first["updated"] and [s["id"] for s in again["schedules"]] == schedules
        assert scheduled_runs(first["id"]) == runs

        # a changed commit is applied
        changed = repo.push({"specs/a.yaml": deployment_doc(a, "v2", schedule=True)}, "v2")
        wait_for(live(repo.name, changed), 60, ctl)
        assert dep(a)["description"] == "v2"
        assert status(repo.name)["changes"] == [f"update deployment.shout/{a}"]

        # a broken commit: reported with located diagnostics, nothing changed, last good stays live
        broken = repo.push({"specs/a.yaml": deployment_doc(a, "v3").replace("description:", "descriptoin:")}, "typo")
        s = wait_for(lambda: (s := status(repo.name)) and s["commit"] == broken and s, 60, ctl)
        assert s["outcome"] == "failed" and s["live_commit"] == changed
        assert any(f.startswith("specs/a.yaml:") and "descriptoin" in f for f in s["failures"]), s["failures"]
        assert dep(a)["description"] == "v2"

        # a fix that also deletes b's file, with --prune: only b is deleted
        fixed = repo.push({"specs/a.yaml": deployment_doc(a, "v2", schedule=True), "specs/b.yaml": None}, "drop b")
        wait_for(live(repo.name, fixed), 60, ctl)
        assert dep(b) is None and dep(a)["id"] == first["id"]
        assert status(repo.name)["changes"] == [f"delete deployment.shout/{b}"]

        # /metrics is Prometheus text and its counters moved
        from prometheus_client.parser import text_string_to_metric_families

        families = {f.name: f for f in text_string_to_metric_families(httpx.get(ctl.url("/metrics")).text)}
        syncs = {
            s.labels["outcome"]: s.value for s in families["pipeform_sync"].samples if s.name == "pipeform_sync_total"
        }
        assert syncs["succeeded"] >= 4 and syncs["failed"] >= 1, syncs
        info = [s for f in families.values() for s in f.samples if s.name == "pipeform_live_commit_info"]
        assert info[0].labels["commit"] == fixed
        assert any(s.value > 0 for s in families["pipeform_sync_duration_seconds"].samples if s.name.endswith("_count"))
        assert _get(ctl.url("/readyz")) == 200


def test_idle_cycles_cost_at_most_five_requests(tmp_path, repo, prefect_api):
    with controller(tmp_path, repo, "--interval", "1", listen=True) as ctl:
        wait_for(live(repo.name, repo.first), 60, ctl)
        time.sleep(3)  # our own writes' events have woken it up by now

        def sample() -> tuple[float, float]:
            from prometheus_client.parser import text_string_to_metric_families

            got = {}
            for f in text_string_to_metric_families(httpx.get(ctl.url("/metrics")).text):
                for s in f.samples:
                    if s.name in ("pipeform_sync_cycles_total", "pipeform_sync_requests_total"):
                        got[s.name] = s.value
            return got["pipeform_sync_cycles_total"], got["pipeform_sync_requests_total"]

        c0, r0 = sample()
        time.sleep(8)
        c1, r1 = sample()
        assert c1 - c0 >= 4, (c0, c1)
        assert (r1 - r0) / (c1 - c0) <= 5, (r1 - r0, c1 - c0)


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_triggers_a_cycle_and_drift_is_seen_within_seconds(tmp_path, repo, prefect_api):
    a = f"{repo.name}-a"
    with controller(tmp_path, repo, "--interval", "300", listen=True) as ctl:
        wait_for(live(repo.name, repo.first), 60, ctl)
        wait_for(lambda: "leading" in ctl.text(), 10, ctl)
        pushed = repo.push({"specs/a.yaml": deployment_doc(a, "hooked", schedule=True)}, "hook")
        body = json.dumps({"ref": "refs/heads/main", "after": pushed}).encode()
        headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
        bad = httpx.post(
            ctl.url("/hooks/github"), content=body, headers={**headers, "X-Hub-Signature-256": _sign(body, "wrong")}
        )
        assert bad.status_code == 401
        time.sleep(3)
        assert dep(a)["description"] == "v1" and status(repo.name)["live_commit"] == repo.first
        good = httpx.post(
            ctl.url("/hooks/github"), content=body, headers={**headers, "X-Hub-Signature-256": _sign(body)}
        )
        assert good.status_code == 202
        wait_for(live(repo.name, pushed), 15, ctl)
        assert dep(a)["description"] == "hooked"

        # a PATCH made through the API outside git: reported (not healed) within 10 s
        time.sleep(2)  # our own apply's events are in
        server("PATCH", f"/deployments/{dep(a)['id']}", {"description": "by hand"})
        start = time.monotonic()
        s = wait_for(lambda: (s := status(repo.name)) and s["outcome"] == "drifted" and s, 10, ctl, step=0.25)
        assert time.monotonic() - start <= 10
        assert s["drift"] == [f"update deployment.shout/{a}"]
        assert dep(a)["description"] == "by hand"
        # the events an Automation can react to, with the project as their resource
        drifted = wait_for(lambda: events("pipeform.drift.detected", repo.name), 20, ctl)
        assert drifted[0]["payload"]["drift"] == [f"update deployment.shout/{a}"]
        synced = events("pipeform.sync.succeeded", repo.name)
        assert {e["payload"]["commit"] for e in synced} >= {repo.first, pushed}


def test_self_heal_puts_an_api_patch_back_within_seconds(tmp_path, repo, prefect_api):
    a = f"{repo.name}-a"
    with controller(tmp_path, repo, "--interval", "300", "--self-heal") as ctl:
        wait_for(live(repo.name, repo.first), 60, ctl)
        time.sleep(2)
        server("PATCH", f"/deployments/{dep(a)['id']}", {"description": "by hand"})
        # No read-back of "by hand" here: the controller may heal it within the same half second
        # (seen in CI); the drift recorded in the status below proves the change was seen.
        wait_for(lambda: dep(a)["description"] == "v1", 10, ctl, step=0.25)
        # the status written right after says what was put back
        s = wait_for(lambda: (s := status(repo.name)) and s["drift"] and s, 10, ctl)
        assert s["outcome"] == "succeeded" and s["drift"] == [f"update deployment.shout/{a}"]
        assert "event check of" in ctl.text()  # healed from the event, not a full plan


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeform", *args], capture_output=True, text=True, timeout=120)


def test_suspend_stops_changes_and_resume_picks_up_what_was_pushed(tmp_path, repo, prefect_api):
    a = f"{repo.name}-a"
    with controller(tmp_path, repo, "--interval", "2") as ctl:
        wait_for(live(repo.name, repo.first), 60, ctl)
        assert _cli("sync", "status", "--project", repo.name).returncode == 0
        done = _cli("sync", "suspend", "--project", repo.name, "--reason", "incident")
        assert done.returncode == 0, done.stderr
        pushed = repo.push({"specs/a.yaml": deployment_doc(a, "meanwhile", schedule=True)}, "meanwhile")
        wait_for(lambda: status(repo.name)["outcome"] == "suspended", 40, ctl)
        time.sleep(5)
        assert dep(a)["description"] == "v1"
        shown = _cli("sync", "status", "--project", repo.name)
        assert shown.returncode == 3 and "suspended" in shown.stdout, shown.stdout + shown.stderr
        assert _cli("sync", "resume", "--project", repo.name).returncode == 0
        wait_for(live(repo.name, pushed), 60, ctl)
        assert dep(a)["description"] == "meanwhile"
        assert _cli("sync", "status", "--project", repo.name).returncode == 0
        # SIGTERM: the controller exits 0 and gives up its leader lease (no waiting for it to lapse)
        ctl.proc.send_signal(signal.SIGTERM)
        assert ctl.proc.wait(60) == 0, ctl.text()
        assert "stopped" in ctl.text()
        holder = httpx.get(f"{prefect_api}/variables/name/pipeform-lock-{repo.name}-controller", timeout=30)
        assert holder.status_code == 404, holder.text


def test_two_controllers_one_syncs_and_the_other_takes_over_after_kill_9(tmp_path, repo, prefect_api):
    a = f"{repo.name}-a"
    with (
        controller(tmp_path, repo, "--interval", "2", tag="one") as one,
        controller(tmp_path, repo, "--interval", "2", tag="two") as two,
    ):
        wait_for(live(repo.name, repo.first), 40, one)
        leader, standby = wait_for(
            lambda: (one, two) if "leading" in one.text() else (two, one) if "leading" in two.text() else None, 20
        )
        time.sleep(4)
        assert "leading" not in standby.text()
        leader.proc.kill()  # kill -9: no release, the lease stays taken
        leader.proc.wait(10)
        killed = time.monotonic()
        pushed = repo.push({"specs/a.yaml": deployment_doc(a, "after-kill", schedule=True)}, "after kill")
        wait_for(live(repo.name, pushed), 90, standby)  # lease time (60 s) at most
        assert time.monotonic() - killed < 90
        assert "leading" in standby.text() and dep(a)["description"] == "after-kill"
        # nothing applied twice: one successful status carries that commit's change
        key = f"pipeform-sync-{repo.name}".lower()
        arts = server("POST", "/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}, "limit": 200})
        from pipeform.sync.status import parse_markdown

        applied = [s for s in (parse_markdown(x["data"]) for x in arts) if s and s.commit == pushed and s.changes]
        assert len(applied) == 1, applied
