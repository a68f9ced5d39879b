"""What the controller tells the server, and reads back from it.

- The status of a project/env: a Prefect artifact keyed `pipeform-sync-<project>[-<env>]`
  (Markdown for the UI, ending with the same status as a JSON block that
  `pipeform sync status` reads back), written only when something happened, never by an
  idle cycle.
- Events `pipeform.sync.succeeded`, `pipeform.sync.failed`, `pipeform.drift.detected`
  with the project as their resource (`pipeform.project.<name>`), for Automations.
- The suspend switch: a Prefect variable of the same name, read by every controller at
  the start of each cycle.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.inventory import CONTROL_PREFIX
from pipeform.reconciler.lock import host_id

SUCCEEDED, FAILED, DRIFTED, SUSPENDED = "succeeded", "failed", "drifted", "suspended"
EVENTS = {SUCCEEDED: "pipeform.sync.succeeded", FAILED: "pipeform.sync.failed", DRIFTED: "pipeform.drift.detected"}
MAX_LINES = 50  # per list in the artifact: a thousand failures still make a readable page


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def log(message: str) -> None:
    """The controller's log: a timestamped line on stderr."""
    print(f"{now()} {message}", file=sys.stderr, flush=True)


def control_key(project: str, env: str | None) -> str:
    """Artifact key and variable name (Prefect allows lowercase letters, digits and dashes)."""
    raw = f"{CONTROL_PREFIX}{project}" + (f"-{env}" if env else "")
    return re.sub(r"[^a-z0-9-]+", "-", raw.lower())


@dataclass(frozen=True)
class Status:
    project: str
    env: str | None
    outcome: str  # succeeded | failed | drifted | suspended
    time: str
    live_commit: str | None  # the last commit applied successfully
    live_since: str | None
    commit: str | None  # the commit this cycle looked at
    changes: tuple[str, ...] = ()  # "update deployment.f/d"
    drift: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()  # located diagnostics, failed outcomes, errors
    pages: tuple[str, ...] = ()  # "FLOW/NAME URL": the UI page of each deployment this sync wrote
    controller: str = field(default_factory=lambda: f"{getpass.getuser()}@{host_id()} pid {os.getpid()}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Status:
        lists = ("changes", "drift", "failures", "pages")
        known: dict[str, Any] = {
            k: tuple(v) if k in lists else v for k, v in data.items() if k in Status.__dataclass_fields__
        }
        return Status(**known)


def _section(title: str, items: tuple[str, ...]) -> list[str]:
    if not items:
        return []
    shown = [f"- `{i}`" for i in items[:MAX_LINES]]
    more = [f"- ... and {len(items) - MAX_LINES} more"] if len(items) > MAX_LINES else []
    return ["", f"### {title} ({len(items)})", *shown, *more]


def markdown(s: Status) -> str:
    where = s.project + (f" (env {s.env})" if s.env else "")
    lines = [
        f"## pipeform sync: {where}",
        "",
        "| | |",
        "| --- | --- |",
        f"| outcome | **{s.outcome}** |",
        f"| live commit | `{s.live_commit or 'none yet'}` since {s.live_since or '-'} |",
        f"| this cycle | `{s.commit or '-'}` at {s.time} |",
        f"| controller | {s.controller} |",
    ]
    lines += _section("Changes", s.changes) + _section("Drift", s.drift) + _section("Failures", s.failures)
    if s.pages:  # links, not code spans: the UI renders them clickable
        lines += ["", f"### Deployments written ({len(s.pages)})"]
        lines += [f"- [{name}]({url})" for name, _, url in (p.rpartition(" ") for p in s.pages[:MAX_LINES])]
    lines += ["", "```json", json.dumps(s.to_json(), indent=1), "```"]
    return "\n".join(lines)


def parse_markdown(text: str) -> Status | None:
    found = re.findall(r"```json\n(.*?)\n```", text or "", re.S)
    if not found:
        return None
    try:
        return Status.from_json(json.loads(found[-1]))
    except (ValueError, TypeError):
        return None


async def publish(api: ServerAPI, s: Status) -> None:
    """The artifact (a new version under the key), then the event for the outcome."""
    key = control_key(s.project, s.env)
    await api.request(
        "POST",
        "/artifacts/",
        {"key": key, "type": "markdown", "data": markdown(s), "description": f"pipeform sync status: {s.outcome}"},
    )
    if s.outcome in EVENTS:
        await emit(api, EVENTS[s.outcome], s)


async def emit(api: ServerAPI, name: str, s: Status) -> None:
    resource = {"prefect.resource.id": f"pipeform.project.{s.project}", "prefect.resource.name": s.project}
    if s.env:
        resource["pipeform.env"] = s.env
    payload = {
        "commit": s.commit,
        "live_commit": s.live_commit,
        "changes": list(s.changes[:MAX_LINES]),
        "drift": list(s.drift[:MAX_LINES]),
        "failures": list(s.failures[:MAX_LINES]),
    }
    event = {"id": str(uuid.uuid4()), "occurred": now(), "event": name, "resource": resource, "payload": payload}
    await api.request("POST", "/events", [event])


async def read_status(api: ServerAPI, project: str, env: str | None) -> Status | None:
    found = await api.request("GET", f"/artifacts/{control_key(project, env)}/latest", ok=(404,))
    return parse_markdown(found.get("data")) if found else None


async def read_suspended(api: ServerAPI, project: str, env: str | None) -> dict[str, Any] | None:
    """The suspend note ({"by", "since", "reason"}) when syncing is suspended, else None."""
    found = await api.request("GET", f"/variables/name/{control_key(project, env)}", ok=(404,))
    value = (found or {}).get("value")
    return value if isinstance(value, dict) and value.get("suspended") else None


async def set_suspended(api: ServerAPI, project: str, env: str | None, suspended: bool, reason: str = "") -> None:
    name = control_key(project, env)
    if not suspended:
        await api.request("DELETE", f"/variables/name/{name}", ok=(404,))
        return
    value = {"suspended": True, "by": f"{getpass.getuser()}@{host_id()}", "since": now(), "reason": reason}
    body = {"value": value, "tags": ["pipeform-sync"]}
    if await api.request("PATCH", f"/variables/name/{name}", body, ok=(404,)) is None:
        await api.request("POST", "/variables/", {"name": name, **body}, ok=(409,))
