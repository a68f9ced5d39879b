"""The embedded default backend: a local Prefect server on SQLite that pipeform starts itself.

With no PREFECT_API_URL configured, commands call `ensure_server()`: it reuses the
server recorded in the project's state directory (`.pipeform/server.json`) while it
answers, and otherwise starts a new one there. The process is detached so it outlives
the CLI call; `pipeform server stop` ends it. Tests and benchmarks use `start_server()`.

Robustness, because two CLI calls may race and processes die:
- a file lock (`server.lock`, flock: released by the kernel if its holder dies) makes
  start and stop exclusive, so concurrent calls start one server and share it;
- a record whose process is gone, is not a Prefect server any more (pid reused), or
  stays unhealthy is discarded (the process stopped if it is ours);
- the previous port is reused when free, so the UI address stays the same; a port
  taken meanwhile means another free port;
- a server that fails to start gives `ServerStartError` naming its log, never a hang.

Pure standard library: this module runs before Prefect may be imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

DEFAULT_STATE_DIR = ".pipeform"
DEFAULT_HOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0
LOCK_TIMEOUT_S = READY_TIMEOUT_S + 30.0
START_ATTEMPTS = 3  # a port taken between choosing and binding it: try another


class ServerStartError(RuntimeError):
    """The local Prefect server could not be started; the message names its log."""

    def __init__(self, message: str, log_path: Path | None = None, port_in_use: bool = False):
        super().__init__(message)
        self.log_path = log_path
        self.port_in_use = port_in_use


@dataclass(frozen=True)
class ServerInfo:
    url: str  # API URL, ending in /api
    pid: int | None  # None when the server is not ours (PREFECT_API_URL was given)
    home: str | None
    log: str | None = None

    @property
    def ui_url(self) -> str:
        from pipeform.ui import ui_root

        return ui_root(self.url)

    @property
    def port(self) -> int | None:
        match = re.search(r":(\d+)/api$", self.url)
        return int(match.group(1)) if match else None


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("PIPEFORM_STATE_DIR") or DEFAULT_STATE_DIR).resolve()


def _url_host(host: str) -> str:
    """The host a browser reaches a server bound to `host` at (a wildcard means this machine)."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(port: int, host: str = DEFAULT_HOST) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as resp:
            status: int = resp.status
            return status == 200
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    with contextlib.suppress(OSError):  # a zombie child of ours counts as dead
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def runs_command(pid: int, *words: str) -> bool:
    """Is `pid` alive and running a command line containing every word? Guards against
    signalling an unrelated process that reused a recorded pid."""
    if not pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): trust the pid
    text = " ".join(a.decode(errors="replace") for a in argv)
    return all(w in text for w in words)


def server_env(home: Path, database_url: str | None = None, api_url: str | None = None) -> dict[str, str]:
    """The environment of a server process. `api_url` is the address it serves: its UI is
    told it (PREFECT_UI_API_URL), else the UI's browser code calls Prefect's default
    127.0.0.1:4200 and shows "Can't connect to Server API" on any other port or host."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_SERVER_UI_API_URL", None)  # an alias that would win over ours
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        PREFECT_LOGGING_LEVEL=env.get("PREFECT_LOGGING_LEVEL", "WARNING"),
    )
    if api_url:
        env["PREFECT_UI_API_URL"] = api_url
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Exit)\b.*:")


def _log_tail(log_path: Path, since: int) -> str:
    """The cause the server logged since `since`: its last exception line (else its last
    line), passwords in URLs masked (errors never show secrets)."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line for line in lines if _EXCEPTION_LINE.match(line) or "already in use" in line]
    tail = (causes or lines or [""])[-1]
    return _CREDENTIALS.sub(r"\1***@", tail[:500])


def start_server(
    home: Path,
    port: int | None = None,
    database_url: str | None = None,
    log_path: Path | None = None,
    host: str = DEFAULT_HOST,
) -> tuple[subprocess.Popen[bytes], ServerInfo]:
    """Start `prefect server start` on host:port in its own session and wait until it answers.

    Raises ServerStartError (with `port_in_use` set when the port was taken)."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    url = f"http://{_url_host(host)}:{port}/api"
    log_path = log_path or home / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not port_is_free(port, host):  # never mistake someone else's server on this port for ours
        raise ServerStartError(f"port {port} is already in use", log_path, port_in_use=True)
    with open(log_path, "ab") as log:
        since = log.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
            env=server_env(home, database_url, api_url=url),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = _log_tail(log_path, since)
            raise ServerStartError(
                f"the Prefect server exited with code {proc.returncode} before answering"
                + (f": {tail}" if tail else "")
                + f" (log: {log_path})",
                log_path,
                port_in_use="already in use" in tail,
            )
        if is_healthy(url, timeout=1.0) and proc.poll() is None:
            return proc, ServerInfo(url=url, pid=proc.pid, home=str(home), log=str(log_path))
        time.sleep(0.3)
    stop_pid(proc.pid)
    raise ServerStartError(
        f"the Prefect server did not answer within {READY_TIMEOUT_S:.0f} s (log: {log_path})", log_path
    )


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group `pid` leads (servers and workers start their own session),
    SIGKILL after `timeout`."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it when it is our child
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def state_lock(state: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock on the state directory; the kernel drops it if the holder dies."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "server.lock", "a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"another pipeform process has held {state / 'server.lock'} for {timeout:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _record(state: Path) -> Path:
    return state / "server.json"


def read_recorded(state: Path) -> ServerInfo | None:
    try:
        data = json.loads(_record(state).read_text())
        known = {f.name for f in fields(ServerInfo)}
        return ServerInfo(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError):
        return None


def _write_record(state: Path, info: ServerInfo) -> None:
    tmp = _record(state).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(info)))
    os.replace(tmp, _record(state))  # readers never see half a record


def is_our_server(info: ServerInfo) -> bool:
    return info.pid is not None and runs_command(info.pid, "prefect", "server", "start")


def _answers_soon(info: ServerInfo, wait_s: float = 10.0) -> bool:
    """A live server of ours may just be busy (SQLite under load): give it a few tries."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not is_our_server(info):
            return False
        if is_healthy(info.url, timeout=5.0):
            return True
        time.sleep(0.5)
    return False


def ensure_server(
    explicit_state: str | os.PathLike[str] | None = None, host: str | None = None, port: int | None = None
) -> ServerInfo:
    """The server to talk to: PREFECT_API_URL when set, else the embedded one (started if needed,
    on `host` (default $PIPEFORM_SERVER_HOST or 127.0.0.1) and `port` (default: a free one))."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return ServerInfo(url=configured.rstrip("/"), pid=None, home=None)
    state = state_dir(explicit_state)
    recorded = read_recorded(state)
    if recorded and is_healthy(recorded.url):  # the common case, without the lock
        return recorded
    with state_lock(state):
        recorded = read_recorded(state)  # another call may have started it while we waited
        if recorded and (is_healthy(recorded.url) or _answers_soon(recorded)):
            return recorded
        host = host or os.environ.get("PIPEFORM_SERVER_HOST") or DEFAULT_HOST
        if port and not port_is_free(port, host):  # an asked-for port is never swapped silently
            raise ServerStartError(f"port {port} on {host} is already in use", port_in_use=True)
        preferred = port
        if recorded:
            if recorded.pid is not None and is_our_server(recorded):  # alive but not answering: replace it
                stop_pid(recorded.pid)
            _record(state).unlink(missing_ok=True)
            preferred = preferred or recorded.port
        info = _start_in(state, preferred, host)
        _write_record(state, info)
        return info


def _start_in(state: Path, preferred_port: int | None, host: str) -> ServerInfo:
    ports = [preferred_port] if preferred_port and port_is_free(preferred_port, host) else []
    for attempt in range(START_ATTEMPTS):
        port = ports[attempt] if attempt < len(ports) else free_port(host)
        try:
            _, info = start_server(state / "prefect-home", port=port, log_path=state / "server.log", host=host)
            return info
        except ServerStartError as exc:
            if not exc.port_in_use or attempt == START_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def server_status(explicit_state: str | os.PathLike[str] | None = None) -> tuple[ServerInfo | None, bool, bool]:
    """(recorded server, its process is alive, it answers /health)."""
    recorded = read_recorded(state_dir(explicit_state))
    if recorded is None:
        return None, False, False
    return recorded, is_our_server(recorded), is_healthy(recorded.url)


def stop_server(explicit_state: str | os.PathLike[str] | None = None) -> ServerInfo | None:
    state = state_dir(explicit_state)
    if read_recorded(state) is None:
        return None
    with state_lock(state):
        recorded = read_recorded(state)
        if recorded is None:
            return None
        if recorded.pid is not None and is_our_server(recorded):
            stop_pid(recorded.pid)
        _record(state).unlink(missing_ok=True)
        return recorded


def use_server(info: ServerInfo) -> None:
    """Point this process's Prefect client at the server. Call before Prefect is imported."""
    os.environ["PREFECT_API_URL"] = info.url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if info.home:
        os.environ.setdefault("PREFECT_HOME", info.home)
