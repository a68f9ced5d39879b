"""`pipeform sync` as a real controller process against the session's real Prefect server
and real git repositories (a bare repository is the remote)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
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
def controller(tmp_path: Path, repo: Repo, *args: str, listen: bool = False, tag: str = "c", env: dict | None = None):
    port = free_port() if listen else None
    log = tmp_path / f"controller-{tag}.log"
    cmd = [sys.executable, "-m", "pipeform", "sync", "--repo", str(repo.remote), "--path", "specs", *args]
    if listen:
        cmd += ["--listen", f"127.0.0.1:{port}"]
    env = {
        **os.environ,
        "PIPEFORM_STATE_DIR": str(tmp_path / f"state-{tag}"),
        "PIPEFORM_GITHUB_WEBHOOK_SECRET": SECRET,
        **(env or {}),
    }
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


def wait_for(check, timeout: float, ctl: Ctl | None = None, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s" + (f"; controller log:\n{ctl.text()}" if ctl else ""))
        time.sleep(step)


def metric(ctl: Ctl, name: str) -> float:
    """The sum of a metric's samples on the controller's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(ctl.url("/metrics"), timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def cycles_pass(ctl: Ctl, n: int, timeout: float = 30) -> None:
    """Wait until the controller has run `n` more cycles (instead of sleeping)."""
    start = metric(ctl, "pipeform_sync_cycles_total")
    wait_for(lambda: metric(ctl, "pipeform_sync_cycles_total") >= start + n, timeout, ctl)


def event_check_after(ctl: Ctl, seen: int, timeout: float = 20) -> None:
    """Wait for an event-driven check after the `seen` ones already logged (our own
    writes' events have then been looked at)."""
    wait_for(lambda: ctl.text().count("event check of") > seen, timeout, ctl)


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
    from pipeform.ui import deployment_page

    a, b = f"{repo.name}-a", f"{repo.name}-b"
    with controller(tmp_path, repo, "--interval", "1", "--prune", listen=True) as ctl:
        # the first commit is live within one interval (plus the apply itself)
        wait_for(live(repo.name, repo.first), 60, ctl)
        first = dep(a)
        assert first["description"] == "v1" and dep(b) is not None
        schedules = [s["id"] for s in first["schedules"]]
        runs = wait_for(lambda: scheduled_runs(first["id"]), 30)

        # a README-only commit: live, and nothing written (same updated, schedule ids, runs)
        readme = repo.push({"README.md": "docs only\n"}, "docs")
        wait_for(live(repo.name, readme), 60, ctl)
        assert status(repo.name)["changes"] == [] and status(repo.name)["pages"] == []
        again = dep(a)
        assert again["updated"] == first["updated"] and [s["id"] for s in again["schedules"]] == schedules
        assert scheduled_runs(first["id"]) == runs

        # a changed commit is applied; the controller prints (and the status links) the UI
        # page of the deployment it wrote, the same page `pipeform apply` prints
        changed = repo.push({"specs/a.yaml": deployment_doc(a, "v2", schedule=True)}, "v2")
        wait_for(live(repo.name, changed), 60, ctl)
        assert dep(a)["description"] == "v2"
        s = status(repo.name)
        assert s["changes"] == [f"update deployment.shout/{a}"]
        page = deployment_page(prefect_api, first["id"])
        assert "/deployments/deployment/" + first["id"] in page
        assert s["pages"] == [f"shout/{a} {page}"]
        assert f"deployment shout/{a}: {page}" in ctl.text()

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
        assert status(repo.name)["pages"] == []  # a deleted deployment has no page

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
    with controller(tmp_path, repo, "--interval", "0.5", listen=True) as ctl:
        wait_for(live(repo.name, repo.first), 60, ctl)
        event_check_after(ctl, 0)  # our own writes' events have been looked at
        cycles_pass(ctl, 2)

        def sample() -> tuple[float, float]:
            return metric(ctl, "pipeform_sync_cycles_total"), metric(ctl, "pipeform_sync_requests_total")

        c0, r0 = sample()
        cycles_pass(ctl, 6)
        c1, r1 = sample()
        assert c1 - c0 >= 6, (c0, c1)
        assert (r1 - r0) / (c1 - c0) <= 5, (r1 - r0, c1 - c0)


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_triggers_a_cycle_and_drift_is_seen_within_seconds(tmp_path, repo, prefect_api):
    a = f"{repo.name}-a"
    with controller(tmp_path, repo, "--interval", "300", listen=True) as ctl:
        wait_for(live(repo.name, repo.first), 60, ctl)
        wait_for(lambda: "leading" in ctl.text(), 10, ctl)
        event_check_after(ctl, 0)  # the first apply's own events have been looked at
        pushed = repo.push({"specs/a.yaml": deployment_doc(a, "hooked", schedule=True)}, "hook")
        body = json.dumps({"ref": "refs/heads/main", "after": pushed}).encode()
        headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
        cycles = metric(ctl, "pipeform_sync_cycles_total")
        bad = httpx.post(
            ctl.url("/hooks/github"), content=body, headers={**headers, "X-Hub-Signature-256": _sign(body, "wrong")}
        )
        assert bad.status_code == 401
        time.sleep(1)  # a triggered cycle starts within 0.3 s: none did
        assert metric(ctl, "pipeform_sync_cycles_total") == cycles
        assert dep(a)["description"] == "v1" and status(repo.name)["live_commit"] == repo.first
        checks = ctl.text().count("event check of")
        good = httpx.post(
            ctl.url("/hooks/github"), content=body, headers={**headers, "X-Hub-Signature-256": _sign(body)}
        )
        assert good.status_code == 202
        wait_for(live(repo.name, pushed), 15, ctl)
        assert dep(a)["description"] == "hooked"

        # a PATCH made through the API outside git: reported (not healed) within 10 s
        event_check_after(ctl, checks)  # our own apply's events are in
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
        event_check_after(ctl, 0)  # the first apply's own events have been looked at
        server("PATCH", f"/deployments/{dep(a)['id']}", {"description": "by hand"})
        # No read-back of "by hand" here: the controller may heal it within the same half second
        # (seen in CI); the drift recorded in the status below proves the change was seen.
        wait_for(lambda: dep(a)["description"] == "v1", 10, ctl, step=0.25)
        # the status written right after says what was put back, with the healed deployment's page
        s = wait_for(lambda: (s := status(repo.name)) and s["drift"] and s, 10, ctl)
        assert s["outcome"] == "succeeded" and s["drift"] == [f"update deployment.shout/{a}"]
        assert s["pages"] and s["pages"][0].startswith(f"shout/{a} ") and dep(a)["id"] in s["pages"][0]
        assert ctl.text().count("event check of") >= 2  # healed from the event, not a full plan


def test_suspend_stops_changes_and_resume_picks_up_what_was_pushed(tmp_path, repo, prefect_api, cli):
    a = f"{repo.name}-a"
    with controller(tmp_path, repo, "--interval", "0.5", listen=True) as ctl:
        wait_for(live(repo.name, repo.first), 60, ctl)
        assert cli("sync", "status", "--project", repo.name).exit_code == 0
        done = cli("sync", "suspend", "--project", repo.name, "--reason", "incident")
        assert done.exit_code == 0, done.output
        pushed = repo.push({"specs/a.yaml": deployment_doc(a, "meanwhile", schedule=True)}, "meanwhile")
        wait_for(lambda: status(repo.name)["outcome"] == "suspended", 40, ctl)
        cycles_pass(ctl, 4)  # cycles keep turning, and change nothing
        assert dep(a)["description"] == "v1"
        shown = cli("sync", "status", "--project", repo.name)
        assert shown.exit_code == 3 and "suspended" in shown.output, shown.output
        assert cli("sync", "resume", "--project", repo.name).exit_code == 0
        wait_for(live(repo.name, pushed), 60, ctl)
        assert dep(a)["description"] == "meanwhile"
        assert cli("sync", "status", "--project", repo.name).exit_code == 0
        # SIGTERM: the controller exits 0 and gives up its leader lease (no waiting for it to lapse)
        ctl.proc.send_signal(signal.SIGTERM)
        assert ctl.proc.wait(60) == 0, ctl.text()
        assert "stopped" in ctl.text()
        holder = httpx.get(f"{prefect_api}/variables/name/pipeform-lock-{repo.name}-controller", timeout=30)
        assert holder.status_code == 404, holder.text


LEASE, RENEW = 6.0, 2.0  # the test's leader lease and its renewal period (lease / 3)


def test_a_leader_on_another_host_is_taken_over_after_its_lease_expires_not_before(tmp_path, repo, prefect_api):
    """Two controllers presenting different hosts (PIPEFORM_HOST_ID): kill -9 the leader; its
    pid cannot be checked from the other host, so the standby waits for the lease to lapse."""
    a = f"{repo.name}-a"
    args = ("--interval", "0.5", "--lease", str(LEASE))
    with (
        controller(tmp_path, repo, *args, tag="one", listen=True, env={"PIPEFORM_HOST_ID": "host-one"}) as one,
        controller(tmp_path, repo, *args, tag="two", listen=True, env={"PIPEFORM_HOST_ID": "host-two"}) as two,
    ):
        wait_for(live(repo.name, repo.first), 40, one)
        leader, standby = wait_for(
            lambda: (one, two) if "leading" in one.text() else (two, one) if "leading" in two.text() else None, 20
        )
        led = time.monotonic()
        cycles_pass(standby, 3)
        time.sleep(max(0.0, LEASE + 1 - (time.monotonic() - led)))  # a whole lease: the standby never led
        assert "leading" not in standby.text()
        note = server("GET", f"/variables/name/pipeform-lock-{repo.name}-controller")["value"]
        assert note["host"] in ("host-one", "host-two") and note["lease_seconds"] == LEASE
        leader.proc.kill()  # kill -9: no release, the lease stays taken
        leader.proc.wait(10)
        killed = time.monotonic()
        pushed = repo.push({"specs/a.yaml": deployment_doc(a, "after-kill", schedule=True)}, "after kill")
        last_absent = killed
        while "taking over" not in standby.text():
            assert status(repo.name)["live_commit"] != pushed  # nothing synced before the takeover
            last_absent = time.monotonic()
            assert last_absent - killed < LEASE + 30, standby.text()
            time.sleep(0.1)
        taken = time.monotonic()
        # the last note was written at most one renewal before the kill: the lease ran out
        # no sooner than LEASE - RENEW after it, and the standby saw it within a cycle or two
        assert last_absent - killed >= LEASE - RENEW - 0.5, (last_absent - killed, standby.text())
        assert taken - killed <= LEASE + 10, (taken - killed, standby.text())
        wait_for(live(repo.name, pushed), 30, standby)
        assert "leading" in standby.text() and dep(a)["description"] == "after-kill"
        # nothing applied twice: one successful status carries that commit's change
        key = f"pipeform-sync-{repo.name}".lower()
        arts = server("POST", "/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}, "limit": 200})
        from pipeform.sync.status import parse_markdown

        applied = [s for s in (parse_markdown(x["data"]) for x in arts) if s and s.commit == pushed and s.changes]
        assert len(applied) == 1, applied


def test_every_project_under_path_is_synced_on_its_own(tmp_path, prefect_api):
    """One controller, a repository holding two Project documents: two projects, each with
    its own status, leader lease and failures (a broken or locked one never blocks the other)."""
    alpha, beta = "al" + uuid.uuid4().hex[:8], "be" + uuid.uuid4().hex[:8]
    a, b = f"{alpha}-a", f"{beta}-a"
    r = Repo(tmp_path, alpha)
    files = {
        f"specs/{p}/{f}": t for p in (alpha, beta) for f, t in (("project.yaml", project_doc(p)), ("flows.py", FLOW))
    }
    first = r.push({**files, f"specs/{alpha}/a.yaml": deployment_doc(a), f"specs/{beta}/a.yaml": deployment_doc(b)})
    with controller(tmp_path, r, "--interval", "0.5", "--lock-timeout", "1", listen=True) as ctl:
        wait_for(live(alpha, first), 60, ctl)
        wait_for(live(beta, first), 60, ctl)
        assert dep(a)["description"] == dep(b)["description"] == "v1"
        assert f"pipeform:{alpha}" in dep(a)["tags"] and f"pipeform:{beta}" in dep(b)["tags"]  # owned apart
        for name in (alpha, beta):  # a leader lease per project
            assert server("GET", f"/variables/name/pipeform-lock-{name}-controller")["value"]["pid"] == ctl.proc.pid

        # beta broken and alpha changed in the same commit: alpha moves on; beta is reported
        # with its located diagnostics and keeps its last good commit live
        typo = deployment_doc(b, "v2").replace("description:", "descriptoin:")
        both = r.push({f"specs/{alpha}/a.yaml": deployment_doc(a, "v2"), f"specs/{beta}/a.yaml": typo}, "typo")
        wait_for(live(alpha, both), 60, ctl)
        s = wait_for(lambda: (s := status(beta)) and s["commit"] == both and s, 60, ctl)
        assert s["outcome"] == "failed" and s["live_commit"] == first
        assert any(f.startswith(f"specs/{beta}/a.yaml:") and "descriptoin" in f for f in s["failures"]), s
        assert status(alpha)["changes"] == [f"update deployment.shout/{a}"]
        assert dep(a)["description"] == "v2" and dep(b)["description"] == "v1"

        # beta's apply lock held by someone else: beta fails on its own, alpha is synced
        lease = server(
            "POST",
            "/v2/concurrency_limits/increment-with-lease",
            {"names": [f"pipeform-lock-{beta}"], "slots": 1, "mode": "concurrency", "lease_duration": 120},
        )
        note = {"user": "t", "host": socket.gethostname(), "pid": os.getpid(), "since": "now"}  # alive
        server(
            "POST", "/variables/", {"name": f"pipeform-lock-{beta}", "value": {**note, "lease_id": lease["lease_id"]}}
        )
        try:
            fixed = r.push(
                {f"specs/{alpha}/a.yaml": deployment_doc(a, "v3"), f"specs/{beta}/a.yaml": deployment_doc(b, "v2")}
            )
            wait_for(live(alpha, fixed), 60, ctl)
            wait_for(lambda: f"{beta}: cycle failed: project {beta!r} is locked" in ctl.text(), 30, ctl)
            assert dep(a)["description"] == "v3" and dep(b)["description"] == "v1"
            assert status(beta)["live_commit"] == first
        finally:
            server("DELETE", f"/variables/name/pipeform-lock-{beta}")
            server("POST", "/v2/concurrency_limits/decrement-with-lease", {"lease_id": lease["lease_id"]})
        # released: beta catches up with the commit that fixed it
        wait_for(live(beta, fixed), 60, ctl)
        assert dep(b)["description"] == "v2" and status(beta)["outcome"] == "succeeded"
        failed = metric_samples(ctl, "pipeform_sync_total")
        assert failed.get((beta, "failed"), 0) >= 2 and failed.get((alpha, "failed"), 0) == 0, failed


def metric_samples(ctl: Ctl, name: str) -> dict[tuple[str, str], float]:
    """(project, outcome) -> value of a labelled counter."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(ctl.url("/metrics"), timeout=10).text
    return {
        (s.labels.get("project"), s.labels.get("outcome")): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name
    }
