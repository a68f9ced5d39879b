"""`pipeform run` reports the flow's result even when the server's answer to the final state
is lost.

Under load the SQLite-backed server can commit a flow run's COMPLETED state after Prefect's
client stopped waiting for the answer; the client sends the request again, the server rejects
it as a duplicate transition and returns its stored state, which carries no data for an
unpersisted result, so `state.result()` raises MissingResult. A real HTTP proxy on 127.0.0.1
in front of the session's real server makes that happen on purpose: it forwards the first
COMPLETED set_state and closes the connection instead of answering.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

pytestmark = pytest.mark.server

SPEC = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: lost-answer}
spec: {}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: lost-answer-flow}
spec:
  tasks: [{name: t, python: "pipeform.compiler.builtins:identity", inputs: {value: 42}}]
"""


class LossyProxy:
    """Forwards every request to the server; the first flow-run COMPLETED set_state reaches the
    server, but its answer is dropped. Records (path, state type, answer status) of set_states."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removesuffix("/api")
        self.set_states: list[tuple[str, str, str]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(
                    self.command, proxy.upstream + self.path, content=body, headers=headers, timeout=300
                )
                if "/flow_runs/" in self.path and self.path.endswith("/set_state"):
                    kind = json.loads(body)["state"]["type"]
                    status = answer.json().get("status", "") if answer.status_code < 300 else str(answer.status_code)
                    first = kind == "COMPLETED" and not any(k == "COMPLETED" for _, k, _ in proxy.set_states)
                    proxy.set_states.append((self.path, kind, status))
                    if first:  # committed by the server; the client never hears of it
                        self.close_connection = True
                        return
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        return Handler


def test_run_prints_the_result_when_the_final_answer_is_lost(prefect_api, tmp_path):
    (tmp_path / "flow.yaml").write_text(SPEC)
    proxy = LossyProxy(prefect_api)
    try:
        env = {**os.environ, "PREFECT_API_URL": proxy.url, "PREFECT_LOGGING_TO_API_ENABLED": "false"}
        done = subprocess.run(
            [sys.executable, "-m", "pipeform", "run", "lost-answer-flow", str(tmp_path)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        proxy.close()
    completed = [(kind, status) for _, kind, status in proxy.set_states if kind == "COMPLETED"]
    # The situation happened: the retried COMPLETED was rejected, the client got the server's copy.
    assert completed == [("COMPLETED", "ACCEPT"), ("COMPLETED", "REJECT")], proxy.set_states
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "flow run completed; result: {'t': 42}" in done.stdout, done.stdout
    assert "MissingResult" not in done.stdout + done.stderr


def test_run_of_a_failing_flow_exits_1_with_the_reason(prefect_api, tmp_path):
    (tmp_path / "flow.yaml").write_text(
        SPEC.replace('python: "pipeform.compiler.builtins:identity", inputs: {value: 42}', 'shell: "exit 3"')
    )
    done = subprocess.run(
        [sys.executable, "-m", "pipeform", "run", "lost-answer-flow", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "flow run did not complete" in done.stderr and "exit" in done.stderr, done.stderr[-3000:]
    assert "flow run completed" not in done.stdout
