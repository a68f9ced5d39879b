"""The embedded default backend: a local Prefect server on SQLite that pipeform starts itself.

With no PREFECT_API_URL configured, commands call `ensure_server()`: it reuses the
server recorded under the project's state directory when it still answers, and
otherwise starts a new one there. The process is detached so it outlives the CLI call;
`pipeform server stop` ends it. Tests use `start_server()` directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STATE_DIR = ".pipeform"
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class ServerInfo:
    url: str  # API URL, ending in /api
    pid: int | None  # None when the server is not ours (PREFECT_API_URL was given)
    home: str | None

    @property
    def ui_url(self) -> str:
        return self.url.removesuffix("/api")


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("PIPEFORM_STATE_DIR") or DEFAULT_STATE_DIR).resolve()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def server_env(home: Path, database_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        PREFECT_LOGGING_LEVEL=env.get("PREFECT_LOGGING_LEVEL", "WARNING"),
    )
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


def start_server(
    home: Path, port: int | None = None, database_url: str | None = None, log_path: Path | None = None
) -> tuple[subprocess.Popen[bytes], ServerInfo]:
    """Start `prefect server start` in its own session and wait until it answers."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = open(log_path or home / "server.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env(home, database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {proc.returncode}; see {log.name}")
        if is_healthy(url, timeout=1.0):
            return proc, ServerInfo(url=url, pid=proc.pid, home=str(home))
        time.sleep(0.3)
    stop_pid(proc.pid)
    raise RuntimeError(f"the Prefect server did not answer within {READY_TIMEOUT_S:.0f} s; see {log.name}")


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap it when it is our child
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _record(state: Path) -> Path:
    return state / "server.json"


def read_recorded(state: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads(_record(state).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def ensure_server(explicit_state: str | os.PathLike[str] | None = None) -> ServerInfo:
    """The server to talk to: PREFECT_API_URL when set, else the embedded one (started if needed)."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return ServerInfo(url=configured.rstrip("/"), pid=None, home=None)
    state = state_dir(explicit_state)
    recorded = read_recorded(state)
    if recorded and is_healthy(recorded.url):
        return recorded
    _, info = start_server(state / "prefect-home", log_path=state / "server.log")
    state.mkdir(parents=True, exist_ok=True)
    _record(state).write_text(json.dumps(asdict(info)))
    return info


def stop_server(explicit_state: str | os.PathLike[str] | None = None) -> ServerInfo | None:
    state = state_dir(explicit_state)
    recorded = read_recorded(state)
    if recorded is None:
        return None
    if recorded.pid:
        stop_pid(recorded.pid)
    _record(state).unlink(missing_ok=True)
    return recorded


def use_server(info: ServerInfo) -> None:
    """Point this process's Prefect client at the server. Call before Prefect is imported."""
    os.environ["PREFECT_API_URL"] = info.url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if info.home:
        os.environ.setdefault("PREFECT_HOME", info.home)
