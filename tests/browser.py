"""A real headless Chromium for the UI tests: the text of a rendered page and a screenshot.

The page is loaded with a virtual-time budget (Chromium runs the page's scripts and waits
for its network requests, then dumps the DOM), so a single-page app like the Prefect UI has
rendered what it fetched from the API. Chromium comes from Debian's `chromium` package
(scripts/test.sh installs it); `chromium_or_skip()` skips a test with the reason when absent.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ARTIFACTS = Path(tempfile.gettempdir()) / "pipeform-test-artifacts"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_or_skip() -> str:
    for name in _NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium (Debian package `chromium`; scripts/test.sh installs it as root)")


def _run(binary: str, url: str, *flags: str, budget_ms: int) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="pipeform-chromium-") as profile:
        return subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",  # tests run as root in CI containers
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                "--window-size=1280,1000",
                *flags,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def page_text(binary: str, url: str, budget_ms: int = 15000) -> str:
    """The visible text of the rendered page (scripts and styles dropped, whitespace squeezed)."""
    dom = _run(binary, url, "--dump-dom", budget_ms=budget_ms).stdout
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom))).strip()


def wait_for_text(binary: str, url: str, *expected: str, attempts: int = 4) -> str:
    """The page's text once it shows every expected string (the server may be slow under load)."""
    text = ""
    for attempt in range(attempts):
        text = page_text(binary, url, budget_ms=15000 * (attempt + 1))
        if all(e in text for e in expected):
            return text
        time.sleep(2)
    missing = [e for e in expected if e not in text]
    raise AssertionError(f"{url} never showed {missing}; it showed: {text[-2000:]}")


def screenshot(binary: str, url: str, name: str, budget_ms: int = 15000) -> Path:
    """A PNG of the rendered page, kept under ARTIFACTS (printed, so a run's log names it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    path.unlink(missing_ok=True)
    _run(binary, url, f"--screenshot={path}", budget_ms=budget_ms)
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no screenshot of {url}"
    print(f"screenshot of {url}: {path}")
    return path
