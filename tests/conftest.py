"""Test session setup: one real Prefect server (SQLite) for the whole session.

The environment is set at import time, before anything imports Prefect, because
Prefect reads its settings once per process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="pipeform-tests-"))

from pipeform import server as _server  # noqa: E402  (pure stdlib, no Prefect import)

_PORT = _server.free_port()
# An externally given server (e.g. PostgreSQL-backed, see .ci/run) wins over our own.
_EXTERNAL = os.environ.get("PIPEFORM_TEST_API_URL")
os.environ["PREFECT_API_URL"] = _EXTERNAL or f"http://127.0.0.1:{_PORT}/api"
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "client-home")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # INFO run logs reach the API; tests read them
os.environ["PIPEFORM_STATE_DIR"] = str(_SESSION_DIR / "state")
# pipeform's disk cache (pipeform/diskcache.py) starts empty: tests never see a user's cache.
os.environ["PIPEFORM_CACHE_DIR"] = str(_SESSION_DIR / "cache")
# The suite's mypy runs (tests/test_architecture.py, tests/test_compiler_types.py) share one
# incremental cache (scripts/typecheck.py): the second re-analyses only what the first did not.
os.environ["PIPEFORM_MYPY_CACHE_DIR"] = str(_SESSION_DIR / "mypy-cache")
# Prefect's client gives up on a request after 60 s (and retries it), while the SQLite-backed
# server waits up to 60 s for its write lock (busy_timeout) and then still commits. Under load a
# final set_state committed after the client's timeout is retried, rejected as a duplicate, and
# the flow run's state comes back without its result (MissingResult): wait longer than the server.
os.environ.setdefault("PREFECT_API_REQUEST_TIMEOUT", "180")
# The session server's scheduler runs every 2 s (default 60) so tests see scheduled runs quickly.
os.environ.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "2")


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """URL of a real Prefect server, started once per test session."""
    if _EXTERNAL:
        yield _EXTERNAL
        return
    # PIPEFORM_TEST_DATABASE_URL (scripts/postgres.sh) runs the session server on PostgreSQL.
    proc, info = _server.start_server(
        _SESSION_DIR / "server-home",
        port=_PORT,
        database_url=os.environ.get("PIPEFORM_TEST_DATABASE_URL"),
        log_path=_SESSION_DIR / "server.log",
    )
    try:
        yield info.url
    finally:
        _drain_prefect_logs()
        _server.stop_pid(proc.pid)


def _drain_prefect_logs() -> None:
    """Send in-process flows' queued run logs while the server is up; at interpreter exit
    Prefect would otherwise retry a stopped server for about 60 s."""
    import sys

    if "prefect.logging.handlers" in sys.modules:
        sys.modules["prefect.logging.handlers"].APILogWorker.drain_all(timeout=10)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture
def cli():
    """Run the real `pipeform` command in-process: cli("validate", path) -> click Result."""
    from typer.testing import CliRunner

    from pipeform.cli.app import _register, app

    _register()
    runner = CliRunner()

    def run(*args: object, input: str | None = None):
        # A real command runs in its own process and cannot change the caller's environment
        # (e.g. `plan --untrusted` sets PIPEFORM_UNTRUSTED for what it starts): in-process, undo it.
        saved = dict(os.environ)
        try:
            return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    return run


@pytest.fixture
def write(tmp_path):
    """write("name.yaml", text_or_bytes) -> Path inside a fresh temp folder."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    return _write
