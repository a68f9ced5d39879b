"""The embedded default server against real processes: start/status/stop, reuse, stale
records, taken ports, concurrent starts, failed starts. Each test owns a temp state dir."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pipeform import server

pytestmark = pytest.mark.slow  # every test starts at least one Prefect server (~10 s each)


@pytest.fixture
def no_api_url(monkeypatch):
    """The session's PREFECT_API_URL would make ensure_server use it instead of starting one."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


@pytest.fixture
def state(tmp_path, no_api_url):
    d = tmp_path / "state"
    yield d
    recorded = server.read_recorded(d)
    if recorded and recorded.pid and server.is_our_server(recorded):
        server.stop_pid(recorded.pid)


def prefect_servers_in(state: Path) -> list[int]:
    """pids of `prefect server start` processes whose PREFECT_HOME is under `state`."""
    home = f"PREFECT_HOME={state / 'prefect-home'}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"prefect\0server\0start" in cmdline and home in environ.split(b"\0"):
            pids.append(int(proc.name))
    return pids


def test_cli_start_reuse_status_stop_and_crash_recovery(cli, state):
    first = cli("server", "start", "--state-dir", state)
    assert first.exit_code == 0, first.output
    assert "started" in first.output
    info = server.read_recorded(state)
    assert info is not None and server.is_healthy(info.url)
    assert info.ui_url in first.output and str(info.pid) in first.output

    again = cli("server", "start", "--state-dir", state)
    assert again.exit_code == 0 and "already running" in again.output
    assert server.ensure_server(state).pid == info.pid  # the Python API reuses it too
    assert prefect_servers_in(state) == [info.pid]

    status = cli("server", "status", "--state-dir", state)
    assert status.exit_code == 0, status.output
    assert info.ui_url in status.output and str(info.pid) in status.output and "healthy" in status.output

    # The server dies behind pipeform's back: the next call replaces it on the same port.
    server.stop_pid(info.pid)
    dead = cli("server", "status", "--state-dir", state)
    assert dead.exit_code == 1 and "not running" in dead.output and "not answering" in dead.output
    revived = server.ensure_server(state)
    assert revived.pid != info.pid and server.is_healthy(revived.url)
    assert revived.url == info.url  # the UI address stays the same
    assert server.read_recorded(state) == revived

    stop = cli("server", "stop", "--state-dir", state)
    assert stop.exit_code == 0 and str(revived.pid) in stop.output
    assert not server.pid_alive(revived.pid)
    assert not (state / "server.json").exists()
    after = cli("server", "status", "--state-dir", state)
    assert after.exit_code == 1 and "no local Prefect server" in after.output


def test_stale_record_with_reused_pid_and_taken_port(state):
    """The recorded pid now belongs to an unrelated process and the recorded port to another
    listener: that process is left alone and the new server gets another port."""
    bystander = subprocess.Popen(["sleep", "120"])
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    try:
        state.mkdir(parents=True)
        stale = {"url": f"http://127.0.0.1:{taken}/api", "pid": bystander.pid, "home": None}
        (state / "server.json").write_text(json.dumps(stale))
        info = server.ensure_server(state)
        assert info.port != taken and server.is_healthy(info.url)
        assert bystander.poll() is None  # never signalled
        assert server.read_recorded(state) == info
    finally:
        squatter.close()
        bystander.kill()
        bystander.wait()


def test_concurrent_ensure_server_calls_start_one_server(state):
    code = "import sys; from pipeform.server import ensure_server; print(ensure_server(sys.argv[1]).pid)"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(state)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    pids = {int(p.communicate(timeout=180)[0].strip()) for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(pids) == 1
    assert prefect_servers_in(state) == list(pids)


def test_failed_start_is_a_clear_error_naming_the_log(cli, state, monkeypatch):
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:////nonexistent/dir/prefect.db")
    result = cli("server", "start", "--state-dir", state)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "unable to open database file" in result.output
    assert str(state / "server.log") in result.output
    assert not (state / "server.json").exists()
    assert prefect_servers_in(state) == []


def test_a_configured_api_url_is_used_and_nothing_is_started(prefect_api, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    info = server.ensure_server(tmp_path / "state")
    assert info == server.ServerInfo(url=prefect_api, pid=None, home=None)
    assert not (tmp_path / "state").exists()
    assert httpx.get(f"{info.url}/health", timeout=5).json() is True
