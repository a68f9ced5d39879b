"""The Prefect UI of servers pipeform starts, in a real headless Chromium.

The quickstart is applied and run as a new user would (`pipeform server start`, `apply`,
`worker start`, `trigger`, as separate processes on an embedded server), then the pages
pipeform prints are loaded: the deployments list, the deployment's run form (the typed
parameter pipeform compiled, with its description and value), the flow run (Completed,
with its task runs). Screenshots are kept under tests/browser.ARTIFACTS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from browser import chromium_or_skip, screenshot, wait_for_text

from pipeform import server, ui

pytestmark = pytest.mark.slow  # a Prefect server, a worker, a flow run and a browser

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"
URL = re.compile(r"https?://\S+")


def pipeform(env: dict[str, str], *args: object, timeout: float = 400) -> str:
    """The real CLI in its own process; its output, asserting it succeeded."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeform", *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def embedded_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env.update(PIPEFORM_STATE_DIR=str(state), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env["PREFECT_HOME"] = str(state / "client-home")
    return env


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    """The quickstart applied and triggered on a fresh embedded server: (env, printed output)."""
    chromium_or_skip()
    state = tmp_path_factory.mktemp("ui") / "state"
    env = embedded_env(state)
    try:
        started = pipeform(env, "server", "start")
        applied = pipeform(env, "apply", QUICKSTART, "--auto-approve")
        pipeform(env, "worker", "start", "--pool", "quickstart-pool")
        triggered = pipeform(env, "trigger", "hello/hello-every-hour", "--timeout", 300)
        yield env, started, applied, triggered
    finally:
        subprocess.run([sys.executable, "-m", "pipeform", "server", "stop"], env=env, capture_output=True, timeout=120)


def _printed(output: str, prefix: str) -> str:
    line = next(line for line in output.splitlines() if prefix in line)
    return URL.search(line).group(0)


def test_the_embedded_ui_is_told_the_address_it_serves(quickstart_run):
    env, started, _, _ = quickstart_run
    info = server.read_recorded(Path(env["PIPEFORM_STATE_DIR"]))
    assert info.ui_url in started and info.url in started
    settings = httpx.get(f"{info.ui_url}/ui-settings", timeout=30).json()
    assert settings["api_url"] == info.url
    status = pipeform(env, "server", "status")
    assert f"UI:     {info.ui_url}" in status and f"API:    {info.url}" in status, status


def test_the_deployment_page_lists_the_deployment_and_its_run_form_is_typed(quickstart_run):
    browser = chromium_or_skip()
    env, _, applied, _ = quickstart_run
    page = _printed(applied, "deployment hello/hello-every-hour:")
    info = server.read_recorded(Path(env["PIPEFORM_STATE_DIR"]))
    assert page.startswith(ui.pages_base(info.url) + "/deployments/deployment/")
    deployments = page.split("/deployments/deployment/")[0] + "/deployments"
    text = wait_for_text(browser, deployments, "hello-every-hour", "pipeform:quickstart")
    assert "Can't connect" not in text
    screenshot(browser, deployments, "quickstart-deployments")
    # The run form is built from the parameter schema pipeform compiled: name, optional,
    # the description from the spec, and the deployment's value for it.
    wait_for_text(browser, page + "/run", "who (Optional)", "Whom to greet.", "pipeform", "Submit")
    screenshot(browser, page + "/run", "quickstart-run-form")


def test_the_flow_run_page_shows_the_completed_run_and_its_task_runs(quickstart_run):
    browser = chromium_or_skip()
    _, _, _, triggered = quickstart_run
    assert "Completed" in triggered
    page = _printed(triggered, "/runs/flow-run/")
    text = wait_for_text(browser, page, "Completed", "2 Task runs", "hello-every-hour")
    assert "hello, pipeform!" in text  # the greet task's log line, read back from the server
    screenshot(browser, page, "quickstart-flow-run")


def test_a_server_on_another_host_and_port_serves_a_working_ui(tmp_path):
    browser = chromium_or_skip()
    host, port = "127.0.0.2", server.free_port("127.0.0.2")
    env = embedded_env(tmp_path / "state")
    try:
        pipeform(env, "server", "start", "--host", host, "--port", port)
        info = server.read_recorded(tmp_path / "state")
        assert info.url == f"http://{host}:{port}/api"
        assert httpx.get(f"http://{host}:{port}/ui-settings", timeout=30).json()["api_url"] == info.url
        env_api = {**env, "PREFECT_API_URL": info.url}  # as a user pointing pipeform at that server
        applied = pipeform(env_api, "apply", QUICKSTART, "--auto-approve")
        page = _printed(applied, "deployment hello/hello-every-hour:")
        assert page.startswith(f"http://{host}:{port}/")
        text = wait_for_text(browser, page + "/run", "who (Optional)", "Whom to greet.")
        assert "Can't connect" not in text
        screenshot(browser, page + "/run", "other-host-run-form")
    finally:
        subprocess.run([sys.executable, "-m", "pipeform", "server", "stop"], env=env, capture_output=True, timeout=120)


def test_the_session_test_server_ui_calls_its_own_api(prefect_api):
    if os.environ.get("PIPEFORM_TEST_API_URL"):
        pytest.skip("the session uses an external server pipeform did not start")
    assert httpx.get(f"{ui.ui_root(prefect_api)}/ui-settings", timeout=30).json()["api_url"] == prefect_api


def test_server_open_opens_the_ui_in_the_browser_or_prints_it(prefect_api, tmp_path):
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"  # a real command standing in for the user's browser
    fake_browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake_browser.chmod(0o755)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "BROWSER": str(fake_browser)}
    out = pipeform(env, "server", "open")
    assert opened.read_text().strip() == ui.ui_root(prefect_api)
    assert f"opened {ui.ui_root(prefect_api)}" in out
    out = pipeform({**env, "BROWSER": str(tmp_path / "no-such-browser")}, "server", "open")
    assert f"no browser could be opened here; the Prefect UI is at {ui.ui_root(prefect_api)}" in out


def test_ui_addresses_follow_prefect_rules(monkeypatch):
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    assert ui.ui_root("http://10.1.2.3:4200/api") == "http://10.1.2.3:4200"
    cloud = "https://api.prefect.cloud/api/accounts/a1/workspaces/w2"
    assert ui.ui_root(cloud) == "https://app.prefect.cloud/account/a1/workspace/w2"
    monkeypatch.setenv("PREFECT_UI_URL", "https://prefect.example.com/ui/")
    assert ui.ui_root("http://10.1.2.3:4200/api") == "https://prefect.example.com/ui"
