"""Notifications through Prefect's own automations: a custom-webhook Block and an Automation
with send-notification, applied by pipeform; a failed flow run makes the server call a real
HTTP receiver on 127.0.0.1 (standing in for Slack), with the webhook's secret filled in."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.importer import read_server, to_documents

pytestmark = pytest.mark.usefixtures("prefect_api")


async def _read() -> dict:
    async with ServerAPI.from_env() as api:
        return await read_server(api)


class Receiver:
    """A real HTTP server collecting (path, body) of every POST."""

    def __init__(self) -> None:
        got: list[tuple[str, dict]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                got.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.got = got
        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        end = time.monotonic() + timeout
        while not self.got and time.monotonic() < end:
            time.sleep(0.5)
        return self.got

    def close(self) -> None:
        self.httpd.shutdown()


SPECS = """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-alerts}
spec:
  type: custom-webhook
  data:
    name: alerts
    url: "http://127.0.0.1:PORT/hook/{{token}}"
    json_data: {text: "{{subject}} | {{body}}"}
    secrets: {token: {from_env: PF_TEST_WEBHOOK_TOKEN}}
---
apiVersion: pipeform/v1
kind: Automation
metadata: {name: NAME-page}
spec:
  trigger:
    expect: [prefect.flow-run.Failed]
    match_related: {prefect.resource.role: flow, prefect.resource.name: NAME-flow}
  actions:
    - type: send-notification
      block: NAME-alerts
      subject: "Run failed"
      body: "{{ flow_run.name }} is {{ flow_run.state.name }}"
"""


@pytest.mark.slow
def test_send_notification_reaches_the_receiver_on_a_failed_run(tmp_path, monkeypatch):
    receiver = Receiver()
    token = f"wh-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("PF_TEST_WEBHOOK_TOKEN", token)
    try:
        path, name = project_dir(tmp_path, SPECS.replace("PORT", str(receiver.port)), prefix="ntf")
        _, outcomes, _ = apply_specs(path)
        assert all(o.ok for o in outcomes), outcomes
        block = server("GET", f"/block_types/slug/custom-webhook/block_documents/name/{name}-alerts")
        auto = server("POST", "/automations/filter", {"automations": {"name": {"any_": [f"{name}-page"]}}})[0]
        action = auto["actions"][0]
        assert action["type"] == "send-notification" and action["block_document_id"] == block["id"]
        assert action["subject"] == "Run failed"
        assert plan_specs(path).pending == ()  # the block id maps back to its name: no diff
        imported = to_documents(asyncio.run(_read()), ("Automation",), name=f"{name}-page")
        assert imported.documents[0]["spec"]["actions"] == [
            {
                "type": "send-notification",
                "block": f"custom-webhook/{name}-alerts",
                "subject": "Run failed",
                "body": "{{ flow_run.name }} is {{ flow_run.state.name }}",
            }
        ]

        flow = server("POST", "/flows/", {"name": f"{name}-flow"})
        run = server("POST", "/flow_runs/", {"flow_id": flow["id"], "name": f"{name}-run"})
        time.sleep(1)  # the automation's trigger is loaded by the server's triggers service
        for state in ("RUNNING", "FAILED"):
            server("POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": state}, "force": True})
        got = receiver.wait(60)
        assert got, "the receiver got no notification within 60 s"
        path_seen, payload = got[0]
        assert path_seen == f"/hook/{token}"  # the secret was filled in on the server, at send time
        assert payload["text"] == f"Run failed | {name}-run is Failed"
    finally:
        receiver.close()


TARGETS = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-pool}
spec: {type: process, queues: [{name: hi}]}
---
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-hook}
spec: {type: webhook, data: {url: "http://127.0.0.1:9/x"}}
---
apiVersion: pipeform/v1
kind: Automation
metadata: {name: NAME-other}
spec:
  trigger: {expect: [prefect.flow-run.Crashed]}
  actions: [{type: do-nothing}]
---
apiVersion: pipeform/v1
kind: Automation
metadata: {name: NAME-targets}
spec:
  trigger: {expect: [prefect.flow-run.Failed]}
  actions:
    - {type: pause-work-pool, work_pool: NAME-pool}
    - {type: pause-work-queue, work_queue: NAME-pool/hi}
    - {type: pause-automation, automation: NAME-other}
    - {type: call-webhook, block: NAME-hook, payload: '{"run": "{{ flow_run.name }}"}'}
    - {type: resume-flow-run}
"""


def test_actions_naming_pools_queues_automations_and_webhooks_are_resolved_to_ids(tmp_path):
    path, name = project_dir(tmp_path, TARGETS, prefix="tgt")
    _, outcomes, _ = apply_specs(path)
    assert all(o.ok for o in outcomes), outcomes
    pool = server("GET", f"/work_pools/{name}-pool")
    queue = server("GET", f"/work_pools/{name}-pool/queues/hi")
    other = server("POST", "/automations/filter", {"automations": {"name": {"any_": [f"{name}-other"]}}})[0]
    hook = server("GET", f"/block_types/slug/webhook/block_documents/name/{name}-hook")
    auto = server("POST", "/automations/filter", {"automations": {"name": {"any_": [f"{name}-targets"]}}})[0]
    got = [
        (
            a["type"],
            a.get("work_pool_id") or a.get("work_queue_id") or a.get("automation_id") or a.get("block_document_id"),
        )
        for a in auto["actions"]
    ]
    assert got == [
        ("pause-work-pool", pool["id"]),
        ("pause-work-queue", queue["id"]),
        ("pause-automation", other["id"]),
        ("call-webhook", hook["id"]),
        ("resume-flow-run", None),
    ]
    again = plan_specs(path).pending  # the ids map back to the names: the automations are unchanged
    assert [c.address for c in again if c.kind == "automation"] == []
    imported = to_documents(asyncio.run(_read()), ("Automation",), name=f"{name}-targets")
    assert [
        a.get("work_pool") or a.get("work_queue") or a.get("automation") or a.get("block")
        for a in imported.documents[0]["spec"]["actions"]
    ] == [
        f"{name}-pool",
        f"{name}-pool/hi",
        f"{name}-other",
        f"webhook/{name}-hook",
        None,
    ]
