"""The controller's HTTP side (--listen HOST:PORT): push webhooks, probes and metrics.

- POST /hooks/github: `X-Hub-Signature-256` must be the HMAC-SHA256 of the body with the
  secret in $PIPEFORM_GITHUB_WEBHOOK_SECRET (401 otherwise, or when no secret is set);
  GitHub's `ping` is answered, anything else triggers a cycle at once (202).
- POST /hooks/gitlab: `X-Gitlab-Token` must equal $PIPEFORM_GITLAB_WEBHOOK_TOKEN.
- GET /healthz: the loop is alive (200) or stuck (503); GET /readyz: a first cycle ran.
- GET /metrics: Prometheus text.

A thread with the standard library's server: requests are tiny and rare, and the asyncio
loop is only ever poked through `call_soon_threadsafe`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GITHUB_SECRET_ENV = "PIPEFORM_GITHUB_WEBHOOK_SECRET"
GITLAB_TOKEN_ENV = "PIPEFORM_GITLAB_WEBHOOK_TOKEN"
MAX_BODY = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; a push of a few commits is kilobytes


def github_signature_ok(secret: str | None, body: bytes, header: str | None) -> bool:
    if not secret or not header or not header.startswith("sha256="):
        return False
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, header)


def gitlab_token_ok(token: str | None, header: str | None) -> bool:
    return bool(token and header is not None and hmac.compare_digest(token.encode(), header.encode()))


class Probes:
    """What the handler needs from the controller, read from another thread."""

    def __init__(
        self,
        trigger: Callable[[], object],  # its result is ignored
        alive: Callable[[], bool],
        ready: Callable[[], bool],
        metrics: Callable[[], bytes],
    ):
        self.trigger, self.alive, self.ready, self.metrics = trigger, alive, ready, metrics


def _handler(probes: Probes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet: the controller logs cycles
            pass

        def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b"ok\n") if probes.alive() else self._send(503, b"stuck\n")
            elif self.path == "/readyz":
                self._send(200, b"ready\n") if probes.ready() else self._send(503, b"starting\n")
            elif self.path == "/metrics":
                self._send(200, probes.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._send(404, b"not found\n")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, b"too large\n")
                return
            body = self.rfile.read(length)
            if self.path == "/hooks/github":
                if not github_signature_ok(
                    os.environ.get(GITHUB_SECRET_ENV), body, self.headers.get("X-Hub-Signature-256")
                ):
                    self._send(401, b"bad signature\n")
                    return
                if self.headers.get("X-GitHub-Event") == "ping":
                    self._send(200, b"pong\n")
                    return
            elif self.path == "/hooks/gitlab":
                if not gitlab_token_ok(os.environ.get(GITLAB_TOKEN_ENV), self.headers.get("X-Gitlab-Token")):
                    self._send(401, b"bad token\n")
                    return
            else:
                self._send(404, b"not found\n")
                return
            probes.trigger()
            self._send(202, b"sync triggered\n")

    return Handler


def serve(host: str, port: int, probes: Probes) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer((host, port), _handler(probes))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="pipeform-sync-http", daemon=True).start()
    return httpd


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen expects HOST:PORT, got {value!r}")
    return host or "0.0.0.0", int(port)


def alive_within(heartbeat: Callable[[], float], limit: float) -> Callable[[], bool]:
    return lambda: time.monotonic() - heartbeat() < limit
